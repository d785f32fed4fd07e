"""A run's job logs end with their run: the worker that wrote them removes them
``GANTRY_JOB_LOG_RETENTION`` seconds after the AnalysisRun's workflow has ended.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.metrics.base import analysis_dir
from activities.metrics.job_spec import (
    DEFAULT_LOG_RETENTION,
    LOG_RETENTION_ENV,
    RUN_MARKER,
    RUN_POLL,
)

# --------------------------------------------------------------------------- logs end with their run

_watchers: dict[Path, asyncio.Task[None]] = {}
_looked_for_leftovers: set[Path] = set()


def _retention() -> float:
    try:
        return max(0.0, float(os.environ.get(LOG_RETENTION_ENV) or DEFAULT_LOG_RETENTION))
    except ValueError:
        return DEFAULT_LOG_RETENTION


async def _run_has_ended(client: Client, run: str) -> bool:
    try:
        described = await client.get_workflow_handle(run).describe()
    except RPCError as e:
        return e.status == RPCStatusCode.NOT_FOUND
    return described.status not in (None, WorkflowExecutionStatus.RUNNING)


async def _remove_when_ended(client: Client, run: str, folder: Path) -> None:
    """Wait for the run's workflow to end, then for the retention, then remove its logs."""
    try:
        while True:
            try:
                if await _run_has_ended(client, run):
                    break
            except Exception:  # the server is away: ask again later
                pass
            await asyncio.sleep(RUN_POLL)
        await asyncio.sleep(_retention())
        await asyncio.to_thread(shutil.rmtree, folder, True)
    finally:
        if _watchers.get(folder) is asyncio.current_task():
            del _watchers[folder]


def _watch(client: Client, run: str, folder: Path) -> None:
    task = _watchers.get(folder)
    if task is None or task.done():
        _watchers[folder] = asyncio.get_running_loop().create_task(_remove_when_ended(client, run, folder))


def remove_logs_after_run(run: str) -> None:
    """Mark the run's log folder with its run id and have this worker remove the folder
    when the run has ended (:data:`LOG_RETENTION_ENV`). The first time in a process it also
    watches the folders an earlier worker process left behind. Only inside a worker's
    activity (it needs the worker's client)."""
    if not activity.in_activity():
        return
    try:
        client = activity.client()
    except RuntimeError:  # a test's ActivityEnvironment without a client
        return
    folder = analysis_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_MARKER).write_text(run)
    root = folder.parent
    if root not in _looked_for_leftovers:
        _looked_for_leftovers.add(root)
        for other in root.iterdir():
            marker = other / RUN_MARKER
            if other != folder and marker.is_file():
                _watch(client, marker.read_text().strip(), other)
    _watch(client, run, folder)
