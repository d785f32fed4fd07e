"""A Gantry worker in a subprocess of its own, so a test can SIGKILL it as a machine dies.

The worker runs in its own process group (session); ``kill_group`` SIGKILLs the whole
group, so git and any hook it is running die with it.

Hooks for holding a step at a known point: ``blocking_hook(tmp, name)`` writes a shell
script that touches ``entered-<name>`` and then waits while ``block-<name>`` exists.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

HOOK = """#!/bin/sh
touch "{entered}"
i=0
while [ -e "{block}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exit 0
"""


@dataclass(frozen=True)
class Gate:
    """A hold point: the hook touches ``entered`` and waits while ``block`` exists."""

    block: Path
    entered: Path

    def close(self) -> None:
        self.block.touch()

    def open(self) -> None:
        self.block.unlink(missing_ok=True)


def write_hook(path: Path, gate: Gate) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HOOK.format(block=gate.block, entered=gate.entered))
    path.chmod(0o755)
    return path


class WorkerProcess:
    """``python worker.py`` against ``address``, with ``env`` added to this process's environment
    (a value of None removes that variable). Used by tests and by bench/chaos.py and bench/scale.py.

    ``root`` is the tree whose ``worker.py`` runs (this checkout by default; the upgrade test
    and the benches pass an extracted snapshot); ``extra_args`` are more ``worker.py`` flags."""

    def __init__(
        self,
        address: str,
        task_queue: str,
        worker_id: str,
        work_dir: Path,
        log: Path,
        env: Mapping[str, str | None] | None = None,
        root: Path = REPO_ROOT,
        extra_args: Sequence[str] = (),
    ):
        self.root, self.worker_id, self.work_dir, self.log = root, worker_id, work_dir, log
        self.args = [
            sys.executable, str(root / "worker.py"), "--address", address, "--task-queue", task_queue,
            "--worker-id", worker_id, "--work-dir", str(work_dir), *extra_args,
        ]  # fmt: skip
        merged = {**os.environ, **(env or {})}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def queue(self) -> str:
        """The worker's own task queue (a promotion's steps run there)."""
        return f"gantry-worker/{self.worker_id}"

    def start(self) -> WorkerProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.root, env=self.env, start_new_session=True
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the worker and everything it started (git, hooks)."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it died already
        self.proc.wait(10)

    def terminate(self) -> None:
        """SIGTERM to the worker process alone (as an orchestrator stops it): the git and hook
        processes of a running step are left to finish or be cancelled by the worker."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class WorkerPool:
    """Worker processes of one test on one task queue; ``stop_all`` at teardown."""

    def __init__(self, address: str, task_queue: str, tmp: Path, env: Mapping[str, str] | None = None):
        self.address, self.task_queue, self.tmp, self.env = address, task_queue, tmp, env
        self.workers: list[WorkerProcess] = []

    def start(self, worker_id: str) -> WorkerProcess:
        """A worker with id ``worker_id`` on disk ``tmp/work-<worker_id>`` (same id, same disk)."""
        w = WorkerProcess(
            self.address, self.task_queue, worker_id, self.tmp / f"work-{worker_id}", self.tmp / "worker.log", self.env
        )
        self.workers.append(w)
        return w.start()

    def log_tail(self, chars: int = 4000) -> str:
        log = self.tmp / "worker.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def stop_all(self) -> None:
        for w in self.workers:
            w.stop()
