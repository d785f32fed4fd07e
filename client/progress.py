"""`gantry promote --wait` and `gantry get promotion NAME --watch`: follow a promotion step
by step until it ends.

Each step shows as `N. ALIAS (KIND)` with its status, how long it ran and (while it runs)
its message. On a terminal that is a live table; elsewhere (CI logs, tests) one line per
step change, a Running line before each step's outcome:

      1. step-1 (git-clone): Running
      1. step-1 (git-clone): Succeeded in 0.4s
    Succeeded in 2.1s: ...

A server that goes away while waiting (restarted, say) is waited for: one line when it is
lost, one when it is back, and the outcome is the promotion's (`Gantry.promotion_result`).
Ctrl-C stops watching, not the promotion: it prints how to watch again and how to abort.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, TypeVar

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from client.errors import is_unavailable
from client.output import console
from workflows.messages import PromotionStatus, StepExecution

STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "Errored": "red",
    "Aborted": "yellow",
    "Running": "cyan",
    "Skipped": "dim",
}
ENDED = ("Succeeded", "Failed", "Errored", "Aborted", "Skipped")
#: outcomes of a step that ran (a Skipped one did not)
RAN = ("Succeeded", "Failed", "Errored", "Aborted")

T = TypeVar("T")

#: how long the CLI keeps trying to reach a server that went away, before it gives up
RECONNECT_GIVE_UP = 600.0


def say(text: str, style: str = "") -> None:
    """One line on stdout, never wrapped (logs and tests read it whole)."""
    console.print(Text(text, style=style), highlight=False, soft_wrap=True)


def elapsed(seconds: float) -> str:
    """1.2s, 42s, 3m05s, 1h02m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def one_line(message: str) -> str:
    """A message on one line (git's stderr comes in many): its lines joined by ' / '."""
    return " / ".join(line.strip() for line in message.splitlines() if line.strip())


def step_label(step: StepExecution) -> str:
    return f"{step.alias} ({step.uses})"


def step_time(step: StepExecution, now: datetime | None = None) -> str:
    if step.started_at is None:
        return ""
    end = step.finished_at or (now if step.status == "Running" else None)
    return elapsed((end - step.started_at).total_seconds()) if end else ""


# -- reconnecting ------------------------------------------------------------------------


class Reconnect:
    """Retries calls while the server cannot be reached, with backoff; says so once per outage."""

    def __init__(self, address: str, give_up: float = RECONNECT_GIVE_UP) -> None:
        self.address, self.give_up = address, give_up
        self.down_since: float | None = None
        self.delay = 0.25

    async def lost(self, err: BaseException) -> None:
        from client.api import GantryError

        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            say(f"lost the Temporal server at {self.address}; reconnecting…", "yellow")
        elif now - self.down_since > self.give_up:
            raise GantryError(
                f"the Temporal server at {self.address} has been unreachable for {elapsed(now - self.down_since)}; "
                "gave up waiting (the promotion goes on if the server comes back)"
            )
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, 4.0)

    def ok(self) -> None:
        if self.down_since is not None:
            self.down_since = None
            say("reconnected", "green")
        self.delay = 0.25

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """`fn()` until it answers; errors other than an unreachable server pass through."""
        while True:
            try:
                value = await fn()
            except Exception as err:
                if not is_unavailable(err):
                    raise
                await self.lost(err)
            else:
                self.ok()
                return value


def address_of(gantry: Any) -> str:
    try:
        return gantry.client.service_client.config.target_host
    except AttributeError:
        return "its address"


# -- following ---------------------------------------------------------------------------


class Detached(Exception):
    """Ctrl-C while following: the promotion goes on."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(workflow_id)
        self.workflow_id = workflow_id


def detach_hint(workflow_id: str) -> list[str]:
    """What to say when the user stops watching: it goes on; how to watch again, to abort."""
    parts = workflow_id.split("/")
    project = parts[1] if len(parts) > 3 else "PROJECT"
    name = parts[-1]
    return [
        f"stopped watching; promotion {name} continues.",
        f"  watch it again: gantry get promotion {name} -p {project} --watch",
        f"  abort it:       gantry promote -p {project} --abort {name}",
    ]


class _Lines:
    """Non-terminal output: one line per step change."""

    def __init__(self) -> None:
        self.seen: dict[int, str] = {}

    def update(self, status: PromotionStatus) -> None:
        for i, step in enumerate(status.steps, start=1):
            before = self.seen.get(i)
            if step.status == before or step.status == "Pending":
                continue
            ran = step.status in RAN and step.started_at is not None
            if ran and before is None:
                say(f"  {i}. {step_label(step)}: Running")  # it ran between two looks
            self.seen[i] = step.status
            line = f"  {i}. {step_label(step)}: {step.status}"
            if step.status in ENDED:
                took = step_time(step) if ran else ""
                line += f" in {took}" if took else ""
                line += f" ({one_line(step.message)})" if step.message else ""
            say(line)


def _table(status: PromotionStatus, started: float) -> Group:
    now = datetime.now(timezone.utc)
    total = (
        ((status.finished_at or now) - status.started_at).total_seconds()
        if status.started_at
        else time.monotonic() - started
    )
    head = Text(f"{status.name}: ", style="bold")
    head.append(status.phase, style=STYLE.get(status.phase, ""))
    head.append(f"  {elapsed(total)}")
    if status.message:
        head.append(f"  {status.message[:120]}", style="dim")
    table = Table(box=None, pad_edge=False, show_header=False)
    for i, step in enumerate(status.steps, start=1):
        style = STYLE.get(step.status, "dim")
        message = one_line(step.message) if step.status != "Succeeded" else ""
        table.add_row(
            f"{i}.",
            escape(step_label(step)),
            f"[{style}]{step.status}[/{style}]",
            step_time(step, now) if step.status != "Skipped" else "",
            escape(message[:100]),
        )
    return Group(head, table)


async def follow_promotion(gantry: Any, workflow_id: str, poll: float = 0.5) -> PromotionStatus:
    """Show the promotion's steps as they change; return its final status. Raises
    `Detached` on Ctrl-C (the promotion goes on)."""
    from client.watchdog import NoWorkerError

    started = time.monotonic()
    reconnect = Reconnect(address_of(gantry))
    result = asyncio.ensure_future(reconnect.call(lambda: gantry.promotion_result(workflow_id)))
    handle = gantry.client.get_workflow_handle(workflow_id, result_type=PromotionStatus)
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
        handles_sigint = True
    except (NotImplementedError, RuntimeError):
        handles_sigint = False
    interrupt = asyncio.ensure_future(interrupted.wait())
    live = Live(console=console, refresh_per_second=4) if console.is_terminal else None
    lines = _Lines()
    status: PromotionStatus | None = None
    told_no_worker = False
    if live:
        live.start()
    try:
        while True:
            if result.done():
                status = result.result()
            else:
                try:
                    status = await handle.query("status", result_type=PromotionStatus)
                    reconnect.ok()
                except NoWorkerError as err:
                    if not told_no_worker:
                        say(f"{err} (the promotion waits for one)", "yellow")
                        told_no_worker = True
                except Exception as err:
                    if is_unavailable(err):
                        await reconnect.lost(err)
                    elif result.done():
                        continue  # it ended meanwhile: take the result
                    else:
                        raise
            if status is not None:
                if live:
                    live.update(_table(status, started))
                else:
                    lines.update(status)
            if result.done() and status is not None and status.phase in ENDED:
                break
            await asyncio.wait({result, interrupt}, timeout=poll)
            if interrupted.is_set():
                raise Detached(workflow_id)
    finally:
        if live:
            live.stop()
        if handles_sigint:
            loop.remove_signal_handler(signal.SIGINT)
        for task in (interrupt, result):
            if not task.done():
                task.cancel()
        await asyncio.gather(interrupt, result, return_exceptions=True)
    total = (
        (status.finished_at - status.started_at).total_seconds()
        if status.started_at and status.finished_at
        else time.monotonic() - started
    )
    say(
        f"{status.phase} in {elapsed(total)}" + (f": {one_line(status.message)}" if status.message else ""),
        STYLE.get(status.phase, ""),
    )
    if status.verification:
        say(f"verification: {status.verification}")
    if status.verified_at:
        say(f"freight verified in {status.stage} at {status.verified_at:%Y-%m-%d %H:%M:%S} UTC")
    return status
