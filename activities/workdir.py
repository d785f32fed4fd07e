"""Working directories: every step of one promotion runs on one worker, in one directory.

`claim_worker` runs on the shared task queue, so whichever worker takes it makes the
working directory on its disk and answers with its own queue; the promotion then sends
every step there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from temporalio import activity

from activities.steps.base import MARKER, run_blocking, workdir


class WorkdirActivities:
    """Bound to one worker's queue name."""

    def __init__(self, queue: str):
        self.queue = queue

    @activity.defn(name="claim_worker")
    async def claim_worker(self, promotion: str) -> str:
        """Make a fresh, empty working directory (a leftover from an earlier try goes) and
        answer with this worker's own queue."""

        def make() -> None:
            path = workdir(promotion)
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
            (path / MARKER).write_text(promotion + "\n")

        await run_blocking(make)
        return self.queue

    @activity.defn(name="cleanup_workdir")
    async def cleanup_workdir(self, promotion: str) -> None:
        await run_blocking(shutil.rmtree, workdir(promotion), ignore_errors=True)

    @activity.defn(name="workdir_diff")
    async def workdir_diff(self, promotion: str) -> str:
        """`git diff` of every checkout in the working directory against its HEAD, for dry runs
        (git-commit may already have committed: then the diff is against the cloned commit)."""
        return await run_blocking(_diff_all, workdir(promotion))


def _diff_all(root: Path) -> str:
    chunks = []
    for git_dir in sorted(root.rglob(".git")):
        checkout = git_dir.parent
        base = _starting_point(checkout)
        _git(checkout, "add", "-A", "--intent-to-add")
        diff = _git(checkout, "diff", base)
        if diff:
            chunks.append(f"# {checkout.relative_to(root)}\n{diff}")
    return "\n".join(chunks)


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return result.stdout if result.returncode == 0 else ""


def _starting_point(checkout: Path) -> str:
    """The commit the checkout started from: its upstream if it has one, else HEAD."""
    upstream = _git(checkout, "rev-parse", "@{upstream}").strip()
    return upstream or "HEAD"
