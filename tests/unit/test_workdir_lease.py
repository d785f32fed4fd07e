"""A git step after a worker killed mid-step, and a retry while an earlier attempt still runs
(activities/steps/_workdir_lease.py), against real git repositories and real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps._workdir_lease import HOLDER, leased  # noqa: E402
from activities.steps.base import MARKER, workdir  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import git_push  # noqa: E402
from tests.gitrepos import Remote, git, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()

#: takes the lease as a step does, makes the lock files git makes mid-commit, then waits
#: to be killed
KILLED_MID_COMMIT = """
import sys, time
from pathlib import Path
from activities.steps._workdir_lease import leased
base, git_dir = Path(sys.argv[1]), Path(sys.argv[2])
with leased(base):
    for name in ("index.lock", "HEAD.lock", "refs/heads/main.lock"):
        (git_dir / name).write_text("")
    print("locked", flush=True)
    time.sleep(600)
"""


async def _clone_and_edit(promo: str, remote: Remote) -> Path:
    res = await env.run(git_clone, step(promo, "git-clone", {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}]}))
    assert res.status == "Succeeded"
    src = workdir(promo) / "src"
    (src / "base/README.md").write_text("changed by the promotion\n")
    (src / "yarn.lock").write_text("a lock file of the repository's own\n")
    return src


def _kill_mid_commit(base: Path, git_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_COMMIT, str(base), str(git_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


async def test_the_retry_of_a_step_killed_mid_commit_removes_the_lock_files_it_left(promo: str, remote: Remote) -> None:
    src = await _clone_and_edit(promo, remote)
    base = workdir(promo)
    _kill_mid_commit(base, src / ".git")
    assert (src / ".git/HEAD.lock").exists() and HOLDER in (base / MARKER).read_text()

    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "after the crash"}))
    assert res.status == "Succeeded"
    assert git("log", "-1", "--format=%s", cwd=src) == "after the crash"
    assert sorted(p.name for p in (src / ".git").rglob("*.lock")) == []
    assert (src / "yarn.lock").read_text() == "a lock file of the repository's own\n"  # in the work tree: kept
    assert git("show", "HEAD:yarn.lock", cwd=src) == "a lock file of the repository's own"
    assert (base / MARKER).read_text() == f"{promo}\n"  # let go: no holder named

    pushed = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert pushed.outputs["commit"] == remote.sha("main")


async def test_a_lock_file_with_no_dead_holder_is_left_to_git(promo: str, remote: Remote) -> None:
    """Only a holder that died proves a lock stale; any other lock stays, and git says so."""
    src = await _clone_and_edit(promo, remote)
    (src / ".git/index.lock").write_text("")
    with pytest.raises(ApplicationError) as e:
        await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "m"}))
    assert "index.lock" in str(e.value) and "'path'" in str(e.value)
    assert (src / ".git/index.lock").exists()


def _waiting_on_flock(path: Path) -> bool:
    """A lock request blocked on ``path``'s inode (``->`` lines of /proc/locks)."""
    inode = os.stat(path).st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and "FLOCK" in line and line.split()[-3].endswith(f":{inode}") for line in lines)


async def test_a_retry_waits_for_the_attempt_still_running_in_the_directory(promo: str, remote: Remote) -> None:
    """An attempt that timed out can still be running git in its thread; its retry starts
    only when that thread lets go of the directory."""
    src = await _clone_and_edit(promo, remote)
    base = workdir(promo)
    holding, release = threading.Event(), threading.Event()

    def earlier_attempt() -> None:
        with leased(base):
            holding.set()
            release.wait(60)
            git("add", "--all", cwd=src)
            git("commit", "-qm", "the earlier attempt", cwd=src)

    holder = threading.Thread(target=earlier_attempt)
    holder.start()
    assert holding.wait(30)
    retry = asyncio.ensure_future(env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "retry"})))
    deadline = time.monotonic() + 30
    while not _waiting_on_flock(base / MARKER):
        assert time.monotonic() < deadline and not retry.done(), "the retry did not wait for the directory"
        await asyncio.sleep(0.02)
    release.set()
    res = await asyncio.wait_for(retry, 60)
    holder.join(30)
    # the retry ran after the earlier attempt's commit: nothing left for it to commit
    assert res.message == "nothing to commit"
    assert git("log", "-1", "--format=%s", cwd=src) == "the earlier attempt"


async def test_git_commit_leaves_out_a_temporary_file_a_killed_step_left(promo: str, remote: Remote) -> None:
    """A worker killed between creating a file step's temporary file and renaming it over
    its target leaves `.<name>.<12 hex>.gantry-tmp`; the retried step writes anew, and the
    commit holds the change but not the leftover."""
    src = await _clone_and_edit(promo, remote)
    (src / "base/.README.md.0123456789ab.gantry-tmp").write_text("half written")
    (src / ".top.0123456789ab.gantry-tmp").write_text("half written")
    (src / "kept.gantry-tmp").write_text("not a name Gantry makes: committed")
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src/base", "message": "m"}))
    assert res.status == "Succeeded"
    committed = git("show", "--name-only", "--format=", "HEAD", cwd=src).splitlines()
    assert sorted(committed) == ["base/README.md", "kept.gantry-tmp", "yarn.lock"]


async def test_a_marker_replaced_by_a_link_is_refused_and_its_target_untouched(promo: str, remote: Remote, tmp_path: Path) -> None:
    src = await _clone_and_edit(promo, remote)
    outside = tmp_path / "outside.txt"
    outside.write_text("not Gantry's\n")
    marker = workdir(promo) / MARKER
    marker.unlink()
    marker.symlink_to(outside)
    with pytest.raises(ApplicationError) as e:
        await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "m"}))
    assert MARKER in str(e.value) and "not a plain file" in str(e.value) and e.value.non_retryable
    assert outside.read_text() == "not Gantry's\n"
    assert git("log", "-1", "--format=%s", cwd=src) != "m"
