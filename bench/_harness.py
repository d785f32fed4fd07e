"""What the benches share: a dev server with in-process Gantry workers, workflow histories
read into timelines (a promotion's child workflows included), and the figures' formatting."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import statistics
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker


SHUTDOWN_GRACE = 1.0  # seconds


def ms(seconds: float | None) -> str:
    return "     n/a   " if seconds is None else f"{seconds * 1000:8.1f} ms"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    """The 95th percentile (linear between the nearest ranks; the one value when there is one)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class Bench:
    """Gantry's workers running on a server, for one bench run."""

    client: Client
    gantry: Any  # client.api.Gantry (imported once GANTRY_WORK_DIR is set)
    task_queue: str
    tmp: Path
    workers: list[Worker]


@contextmanager
def scratch_dir(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary directory for one run (the workers' work dir, the remotes), removed on exit
    unless ``keep``; a SIGTERM to the running task (if any) unwinds it too."""
    try:
        me = asyncio.current_task()
    except RuntimeError:  # no event loop
        me = None
    if me is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, me.cancel)  # so `finally` stops the server
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["GANTRY_WORK_DIR"] = str(tmp / "work")
    os.environ["GANTRY_ALLOW_LOCAL_REPOS"] = "1"  # the benches' remotes are local bare repositories
    try:
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@asynccontextmanager
async def dev_server(tmp: Path, db_dir: Path | None = None) -> AsyncIterator[Client]:
    """A dev server on a free port persisting to a temporary SQLite file (in ``db_dir`` if
    given, e.g. /dev/shm, else in ``tmp``), and a client of it."""
    from client.devserver import DevServer, ensure_search_attributes, free_port
    from client.settings import TemporalSettings

    db = Path(tempfile.mkdtemp(prefix="gantry-bench-db-", dir=db_dir)) if db_dir else tmp
    try:
        server = DevServer(db_file=db / "temporal.db", port=free_port(), ui_port=None, log_file=tmp / "server.log").start()
        try:
            client = await TemporalSettings(address=server.address, namespace="default").connect_when_ready()
            await ensure_search_attributes(client)
            yield client
        finally:
            server.stop()
    finally:
        if db_dir:
            shutil.rmtree(db, ignore_errors=True)


@asynccontextmanager
async def gantry_workers(client: Client, tmp: Path, *, task_queue: str = "gantry-bench", worker_id: str = "bench") -> AsyncIterator[Bench]:
    """Gantry's workers (client.worker.build_workers) running in this process."""
    from client.api import Gantry
    from client.worker import build_workers

    # a short grace on the way out: the project workflow's follow-up activities (telling other
    # Stages, auto-promotion) may wait on workflow workers that are already stopping
    workers = build_workers(client, task_queue=task_queue, worker_id=worker_id, grace=SHUTDOWN_GRACE)
    running = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield Bench(client, Gantry(client, task_queue), task_queue, tmp, workers)
    finally:
        # long-running workflows (the project's) may have an activity in flight: its
        # failure as the workers stop is expected, not news
        logging.getLogger("temporalio.activity").setLevel(logging.CRITICAL)
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in running:
            task.cancel()


@asynccontextmanager
async def dev_server_with_workers(prefix: str, *, db_dir: Path | None = None, keep: bool = False) -> AsyncIterator[Bench]:
    """:func:`scratch_dir`, :func:`dev_server` and :func:`gantry_workers` together; all
    stopped and removed on exit."""
    with scratch_dir(prefix, keep=keep) as tmp:
        async with dev_server(tmp, db_dir) as client, gantry_workers(client, tmp, worker_id=prefix.strip("-")) as bench:
            yield bench


@dataclass
class Activity:
    name: str
    scheduled: float
    started: float
    completed: float

    @property
    def queued(self) -> float:
        return self.started - self.scheduled

    @property
    def run(self) -> float:
        return self.completed - self.started


@dataclass
class Timeline:
    """The events of one workflow's history that matter to the benches, as epoch seconds
    (the server's clock); activities of its child workflows are merged in."""

    workflow_id: str
    started: float = 0.0
    closed: float = 0.0
    #: every completed activity, in completion order
    runs: list[Activity] = field(default_factory=list)
    granted: float | None = None  # first lock_granted signal received
    release_sent: float | None = None  # the lock's release (or finished) signal command recorded
    project_signal_sent: float | None = None
    project_signaled: float | None = None  # the project's signal delivered
    wft: list[tuple[float, float, float]] = field(default_factory=list)  # scheduled, started, completed
    #: local activities (markers: no queue, no workflow task of their own), by type, in order
    local: list[str] = field(default_factory=list)
    children: int = 0

    @property
    def activities(self) -> dict[str, tuple[float, float, float]]:
        """Activity type -> (scheduled, started, completed) of its first completed run."""
        first: dict[str, tuple[float, float, float]] = {}
        for a in self.runs:
            first.setdefault(a.name, (a.scheduled, a.started, a.completed))
        return first

    def act(self, name: str, which: int) -> float | None:
        found = self.activities.get(name)
        return found[which] if found else None

    def first_start(self, names: set[str]) -> float | None:
        """When the first activity of one of these types started."""
        starts = [a.started for a in self.runs if a.name in names]
        return min(starts) if starts else None


async def timeline(client: Client, workflow_id: str, run_id: str | None = None) -> Timeline:
    """Read a workflow's history (and its children's, recursively) into a Timeline."""
    tl = Timeline(workflow_id)
    await _read(client, workflow_id, run_id, tl, top=True)
    tl.runs.sort(key=lambda a: a.completed)
    return tl


async def _read(client: Client, workflow_id: str, run_id: str | None, tl: Timeline, *, top: bool) -> None:
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    wft_sched: float | None = None
    wft_start: float | None = None
    initiated: dict[int, str] = {}
    children: list[tuple[str, str]] = []
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        t = event.event_time.ToNanoseconds() / 1e9
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, t)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = t
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            name, t0 = scheduled[sid]
            tl.runs.append(Activity(name, t0, started.get(sid, t0), t))
        elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            execution = event.child_workflow_execution_started_event_attributes.workflow_execution
            children.append((execution.workflow_id, execution.run_id))
        elif not top:
            continue
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            tl.started = t
        elif kind in (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED):
            tl.closed = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_sched = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft_start = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tl.wft.append((wft_sched or t, wft_start or t, t))
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            attrs = event.marker_recorded_event_attributes
            if attrs.marker_name == "core_local_activity" and attrs.details["data"].payloads:
                tl.local.append(json.loads(attrs.details["data"].payloads[0].data).get("activity_type", "?"))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if event.workflow_execution_signaled_event_attributes.signal_name == "lock_granted" and tl.granted is None:
                tl.granted = t
        elif kind == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            attrs = event.signal_external_workflow_execution_initiated_event_attributes
            initiated[event.event_id] = attrs.signal_name
            if attrs.signal_name in ("release", "finished"):  # the Stage's lock given back
                tl.release_sent = t
            elif attrs.signal_name == "promotion_finished":
                tl.project_signal_sent = t
        elif kind == EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.external_workflow_execution_signaled_event_attributes
            if initiated.get(attrs.initiated_event_id) == "promotion_finished":
                tl.project_signaled = t
    tl.children += len(children)
    for child_id, child_run in children:
        await _read(client, child_id, child_run, tl, top=False)


async def apply_manifests(gantry: Any, text: str) -> None:
    """``gantry apply`` of these manifests."""
    from client.applying import plan_apply
    from client.manifests import LoadedManifests
    from pipeline.manifests import parse_documents

    await gantry.apply(plan_apply(LoadedManifests(documents=parse_documents(text, "bench.yaml"))).documents)


async def new_freight(gantry: Any, project: str, image: str, tag: str) -> str:
    """Freight of the project's Warehouse `app` with one image; its name."""
    created = await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": image, "tag": tag}]}
    )
    return created["name"]
