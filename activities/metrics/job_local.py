"""A job metric run as a process on the worker's host (local mode; an operator opt-in):
its own process group, the allow-listed environment, its own directory, and ``nobody``
under a root worker.
"""

from __future__ import annotations

import asyncio
import collections
import os
import pwd
import shlex
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from activities.heartbeat import heartbeating
from activities.metrics.base import (
    MAX_MESSAGE,
    ConfigError,
    MeasureRequest,
    MeasureResult,
    log_path,
)
from activities.metrics.job_spec import (
    DEFAULT_JOB_USER,
    JOB_USER_ENV,
    KILL_GRACE,
    TAIL_LINES,
    JobSpec,
    local_argv,
)
from activities.trust import tool_env

# --------------------------------------------------------------------------- local mode


class LogFile:
    """The metric's log file, written line by line and flushed, plus the last lines."""

    def __init__(self, path: Path, truncate: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file: IO[bytes] = open(path, "wb" if truncate else "ab")
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.lines = 0

    def write(self, line: bytes, keep: bool = True) -> None:
        if not line.endswith(b"\n"):
            line += b"\n"
        self.file.write(line)
        self.file.flush()
        if keep:
            self.tail.append(line.decode("utf-8", "replace").rstrip("\n"))
            self.lines += 1

    def mark(self, text: str) -> None:
        self.write(f"# gantry: {text}".encode(), keep=False)

    def close(self) -> None:
        self.file.close()


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except asyncio.TimeoutError:
            continue


class JobUser:
    """Who a local job runs as: ``None`` fields mean "as the worker" (worker not root)."""

    def __init__(self, name: str | None = None, uid: int | None = None, gid: int | None = None) -> None:
        self.name, self.uid, self.gid = name, uid, gid

    def popen_args(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def job_user() -> JobUser:
    """The unprivileged user a root worker runs jobs as (``GANTRY_JOB_USER``, else nobody)."""
    if os.geteuid() != 0:
        return JobUser()
    wanted = (os.environ.get(JOB_USER_ENV) or DEFAULT_JOB_USER).strip()
    try:
        entry = pwd.getpwuid(int(wanted)) if wanted.isdigit() else pwd.getpwnam(wanted)
    except (KeyError, ValueError):
        if wanted.isdigit():  # a uid without a passwd entry: its own group of the same number
            return JobUser(wanted, int(wanted), int(wanted))
        raise ConfigError(
            f"the worker runs as root and runs jobs as user {wanted!r}, which does not exist: "
            f"set {JOB_USER_ENV} to an unprivileged user of this host"
        ) from None
    return JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _job_dir(user: JobUser) -> Path:
    """A fresh, empty directory for one measurement, owned by the job's user."""
    path = Path(tempfile.mkdtemp(prefix="gantry-job-"))
    if user.uid is not None:
        os.chown(path, user.uid, user.gid if user.gid is not None else -1)
    return path


def job_env(req: MeasureRequest, job: JobSpec, home: Path, user: JobUser) -> dict[str, str]:
    """The allow-listed tool environment, the job's own HOME/TMPDIR, the run and metric,
    then the container's ``env``."""
    env = tool_env()
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        GANTRY_ANALYSIS_RUN=req.run,
        GANTRY_METRIC=req.metric,
    )
    if user.name is not None:
        env["USER"] = env["LOGNAME"] = user.name
    env.update(job.env)
    return env


async def _run_once(
    argv: list[str], env: dict[str, str], cwd: Path, log: LogFile, timeout: float | None, user: JobUser | None = None
) -> int | str:
    """One try: the exit code, or a string saying why the process never ran / was stopped."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
            **(user or JobUser()).popen_args(),
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
        who = f" as user {user.name}" if user is not None and user.name else ""
        raise ConfigError(f"cannot start {argv[0]!r}{who} in {str(cwd)!r}: {e.strerror or e}") from None
    assert proc.stdout is not None

    async def pump() -> None:
        while True:
            line = await proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            log.write(line)

    try:
        try:
            await asyncio.wait_for(pump(), timeout)
        except asyncio.TimeoutError:
            await _kill_group(proc)
            return f"deadline exceeded: killed after {timeout:g}s"
        return await proc.wait()
    except BaseException:
        # cancellation (or any error): never leave the process group behind
        await asyncio.shield(_kill_group(proc))
        raise


async def run_local(req: MeasureRequest, job: JobSpec) -> MeasureResult:
    argv = local_argv(job)
    user = job_user()
    home = _job_dir(user)
    try:
        return await _run_local(req, job, argv, user, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _run_local(req: MeasureRequest, job: JobSpec, argv: list[str], user: JobUser, home: Path) -> MeasureResult:
    env = job_env(req, job, home, user)
    cwd = Path(job.working_dir) if job.working_dir else home
    path = log_path(req.run, req.metric)
    log = LogFile(path, truncate=req.attempt <= 1 and req.index == 0)
    details: dict[str, Any] = {"try": 0, "logPath": str(path)}
    started = time.monotonic()
    tries = 0
    outcome: int | str = "not run"

    async def tries_until_done() -> None:
        nonlocal tries, outcome
        while True:
            tries += 1
            details["try"] = tries
            remaining = None if job.deadline is None else job.deadline - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                outcome = f"deadline exceeded: activeDeadlineSeconds {job.deadline:g}"
                return
            log.mark(f"measurement #{req.index} try {tries}/{job.backoff_limit + 1}: {shlex.join(argv)}")
            try:
                outcome = await _run_once(argv, env, cwd, log, remaining, user)
            except asyncio.CancelledError:
                log.mark("cancelled: process group killed")
                raise
            log.mark(f"exit: {outcome}")
            if outcome == 0 or tries > job.backoff_limit or isinstance(outcome, str):
                return

    try:
        await heartbeating(tries_until_done(), details=lambda: dict(details))
    finally:
        log.close()
    tail = "\n".join(log.tail)
    metadata = {"mode": "local", "tries": str(tries), "logPath": str(path)}
    if isinstance(outcome, str):
        return MeasureResult(value=None, phase="Failed", message=(outcome + "\n" + tail)[-MAX_MESSAGE:], metadata=metadata)
    metadata["exitCode"] = str(outcome)
    head = "" if outcome == 0 else (
        f"killed by signal {-outcome}\n" if outcome < 0 else f"exit code {outcome} after {tries} tries\n"
    )
    return MeasureResult(
        value=outcome,
        phase="Successful" if outcome == 0 else "Failed",
        message=(head + tail)[-MAX_MESSAGE:],
        metadata=metadata,
    )
