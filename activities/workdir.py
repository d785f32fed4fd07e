"""Working directories: every step of one promotion runs on one worker, in one directory.

`claim_worker` runs on the shared task queue, so whichever worker takes it answers with
its own queue; the promotion then sends `prepare_workdir` and every step there.
"""

from __future__ import annotations

import shutil

from temporalio import activity

from activities.steps.base import MARKER, run_blocking, workdir


class WorkdirActivities:
    """Bound to one worker's queue name."""

    def __init__(self, queue: str):
        self.queue = queue

    @activity.defn(name="claim_worker")
    async def claim_worker(self) -> str:
        return self.queue

    @activity.defn(name="prepare_workdir")
    async def prepare_workdir(self, promotion: str) -> str:
        """A fresh, empty directory for the promotion (a leftover from an earlier try goes)."""

        def make() -> str:
            path = workdir(promotion)
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
            (path / MARKER).write_text(promotion + "\n")
            return str(path)

        return await run_blocking(make)

    @activity.defn(name="cleanup_workdir")
    async def cleanup_workdir(self, promotion: str) -> None:
        await run_blocking(shutil.rmtree, workdir(promotion), ignore_errors=True)
