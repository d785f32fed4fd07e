"""One git step at a time in a promotion's working directory, and what a killed one left.

A worker killed mid-step (SIGKILL, OOM, a lost machine) takes its git processes with it
and leaves git's lock files behind (``index.lock``, ``HEAD.lock``,
``refs/heads/main.lock``). Git then refuses every later command in that checkout
("Unable to create '.../HEAD.lock': File exists"), so the retried step would fail for good.
And a step attempt that timed out on a live worker can still be running git in its thread
when its retry starts on the same worker.

``leased(base)`` holds an exclusive ``flock`` on the working directory's marker file for
the length of a step's git work: a retry waits until an earlier attempt's thread is done,
and the kernel ends a killed worker's hold with the process. While held, the marker's
second line names the holder; finding that line when taking the lease means the last
holder died mid-step, so no live git process works there and every git lock file in the
directory's repositories is removed. Only files inside git directories (``.git`` and the
scratch repository of git-open-pr) are touched: a checkout's own ``yarn.lock`` stays.

One process per worker disk, as the workdir design assumes (``activities.workdir``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from temporalio import activity

from activities.steps.base import MARKER, run_blocking, step_failed, workdir_lost

T = TypeVar("T")

HOLDER = "step running in process "
#: the bare repository git-open-pr keeps in the working directory
SCRATCH_REPOS = (".gantry-pr",)


def checkouts(root: Path) -> list[Path]:
    """Every checkout under ``root``: directories holding a real ``.git`` directory. The
    walk never follows a symlink (a committed one may point anywhere) nor enters ``.git``."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if ".git" in dirnames:
            dirnames.remove(".git")
            dot = here / ".git"
            if dot.is_dir() and not dot.is_symlink():
                found.append(here)
        dirnames.sort()
    return sorted(found)


def _git_dirs(base: Path) -> list[Path]:
    dirs = [c / ".git" for c in checkouts(base)]
    dirs += [base / name for name in SCRATCH_REPOS if (base / name).is_dir() and not (base / name).is_symlink()]
    return dirs


def remove_stale_locks(base: Path) -> list[Path]:
    """Remove every ``*.lock`` file inside the git directories under ``base``; the removed."""
    removed = []
    for git_dir in _git_dirs(base):
        for dirpath, _, filenames in os.walk(git_dir):  # os.walk follows no symlinked directory
            for name in filenames:
                path = Path(dirpath) / name
                if name.endswith(".lock") and not path.is_symlink():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


@contextmanager
def leased(base: Path) -> Iterator[None]:
    """Hold ``base`` (a working directory with its marker) for one step's git work; see
    the module's docstring. Blocks while another attempt holds it."""
    try:  # never through a link: a step may have put one there
        fd = os.open(base / MARKER, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise workdir_lost(base.name) from None
        raise step_failed(f"the working directory's marker {MARKER} is not a plain file ({e.strerror}); refused") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise step_failed(f"the working directory's marker {MARKER} is not a plain file; refused")
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.pread(fd, 4096, 0).decode(errors="replace")
        first, _, rest = text.partition("\n")
        if rest.startswith(HOLDER):  # the last holder died before it let go
            removed = remove_stale_locks(base)
            if removed:
                activity.logger.warning(
                    "removed %d git lock file(s) left by a step killed mid-way (%s): %s",
                    len(removed), rest.strip(), ", ".join(str(p.relative_to(base)) for p in removed),
                )  # fmt: skip
        own = f"{first}\n".encode()
        held = own + f"{HOLDER}{os.getpid()}\n".encode()
        os.pwrite(fd, held, 0)  # over the old text, so a holder line is there at every moment
        os.ftruncate(fd, len(held))
        try:
            yield
        finally:
            os.ftruncate(fd, len(own))
    finally:
        os.close(fd)  # ends the flock


def _run_leased(base: Path, fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object]) -> T:
    with leased(base):
        return fn(*args, **kwargs)


async def run_leased(base: Path, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``run_blocking(fn, *args)`` holding the working directory ``base`` in the thread,
    so the hold lasts as long as the git work, even past a cancelled activity."""
    return await run_blocking(_run_leased, base, fn, args, kwargs)
