"""Working directories: every step of one promotion runs on one worker, in one directory.

`claim_worker` runs on the shared task queue, so whichever worker takes it makes the
working directory on its disk and answers with its own queue; the promotion then sends
every step there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio import activity

from activities.git_ops import Git, GitError
from activities.steps._workdir_lease import checkouts, run_leased
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
            # checkouts are private to the worker's user: a local job running as another
            # user (nobody, under a root worker) cannot read other promotions' files
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.mkdir(mode=0o700)
            (path / MARKER).write_text(promotion + "\n")

        await run_blocking(make)
        return self.queue

    @activity.defn(name="cleanup_workdir")
    async def cleanup_workdir(self, promotion: str) -> None:
        await run_blocking(shutil.rmtree, workdir(promotion), ignore_errors=True)

    @activity.defn(name="workdir_diff")
    async def workdir_diff(self, promotion: str) -> str:
        """`git diff` of every checkout in the working directory against its HEAD, for dry runs
        (git-commit may already have committed: then the diff is against the cloned commit).
        git runs as every git step runs it (activities.git_ops.Git): allow-listed environment,
        program-running config neutralised, no external diff or textconv, and a checkout
        whose .git/config was tampered with is reported, not diffed."""
        base = workdir(promotion)
        if not (base / MARKER).is_file():
            return ""  # nothing was cloned on this worker
        return await run_leased(base, _diff_all, base)


def _diff_all(root: Path) -> str:
    chunks = []
    for checkout in checkouts(root):
        g = Git(cwd=checkout, timeout=60)
        try:
            base = _starting_point(g)
            g.run("add", "-A", "--intent-to-add", check=False)
            proc = g.run("diff", "--no-ext-diff", "--no-textconv", "--end-of-options", base, "--", check=False)
            diff = proc.stdout if proc.returncode == 0 else ""
        except GitError as e:
            if e.kind != "usage":
                continue
            diff = f"(not diffed: {e})\n"  # a checkout git refuses to run in
        if diff:
            chunks.append(f"# {checkout.relative_to(root)}\n{diff}")
    return "\n".join(chunks)


def _starting_point(g: Git) -> str:
    """The commit the checkout started from: its upstream if it has one, else HEAD."""
    r = g.run("rev-parse", "--verify", "--quiet", "@{upstream}", check=False)
    upstream = r.stdout.strip() if r.returncode == 0 else ""
    return upstream or "HEAD"
