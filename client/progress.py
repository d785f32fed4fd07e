"""`gantry promote --wait`: follows a promotion step by step until it ends."""

from __future__ import annotations

import asyncio

from rich.live import Live
from rich.table import Table

from client.output import console
from workflows.messages import PromotionStatus

STYLE = {"Succeeded": "green", "Failed": "red", "Errored": "red", "Aborted": "yellow", "Running": "cyan"}


def _table(status: PromotionStatus) -> Table:
    table = Table(box=None, pad_edge=False, show_header=False)
    for i, step in enumerate(status.steps, start=1):
        style = STYLE.get(step.status, "dim")
        table.add_row(f"{i}.", step.summary or f"{step.uses}", f"[{style}]{step.status}[/{style}]", step.message[:100])
    return table


async def follow_promotion(gantry, workflow_id: str, poll: float = 0.5) -> PromotionStatus:
    """Print each step as its status changes; return the final status."""
    result = asyncio.ensure_future(gantry.promotion_result(workflow_id))
    interactive = console.is_terminal
    seen: dict[str, str] = {}
    live = Live(console=console, refresh_per_second=4) if interactive else None
    if live:
        live.start()
    try:
        while True:
            done = result.done()
            status = result.result() if done else await gantry.promotion_status(workflow_id)
            if live:
                live.update(_table(status))
            else:
                for i, step in enumerate(status.steps, start=1):
                    if seen.get(step.alias) != step.status and step.status != "Pending":
                        seen[step.alias] = step.status
                        line = f"  {i}. {step.summary or step.uses}: {step.status}"
                        print(line + (f" ({step.message})" if step.message and step.status != "Running" else ""))
            if done:
                break
            await asyncio.wait({result}, timeout=poll)
    finally:
        if live:
            live.stop()
    style = STYLE.get(status.phase, "")
    console.print(f"[{style}]{status.phase}[/{style}]: {status.message}", highlight=False)
    if status.verification:
        console.print(f"verification: {status.verification}", highlight=False)
    if status.verified_at:
        console.print(f"freight verified in {status.stage} at {status.verified_at:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
    return status
