"""SIGKILL of the worker in the middle of `git-push`: the promotion still finishes, with
exactly one new commit on the remote.

The remote's pre-receive hook holds the push while a `block` file exists, so the test
knows the worker is inside git-push when it kills it. The worker runs in its own process
group, and the whole group is killed, as when a machine dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from client.api import Gantry
from tests.conftest import wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from workflows.messages import PromotionOptions

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]

HOOK = """#!/bin/sh
touch "{entered}"
i=0
while [ -e "{block}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exit 0
"""


class WorkerProcess:
    def __init__(self, address: str, task_queue: str, worker_id: str, work_dir: Path, log: Path):
        self.args = [
            sys.executable, str(REPO_ROOT / "worker.py"), "--address", address, "--task-queue", task_queue,
            "--worker-id", worker_id, "--work-dir", str(work_dir),
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )
        return self

    def kill_group(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def crash_setup(client, temporal_address: str, tmp_path: Path, unique: str):
    repo = make_gitops_repo(tmp_path / "remote")
    block, entered = tmp_path / "block", tmp_path / "entered"
    hook = repo.bare / "hooks" / "pre-receive"
    hook.write_text(HOOK.format(block=block, entered=entered))
    hook.chmod(0o755)
    task_queue = f"gantry-crash-{unique}"
    workers: list[WorkerProcess] = []

    def new_worker(worker_id: str) -> WorkerProcess:
        w = WorkerProcess(temporal_address, task_queue, worker_id, tmp_path / f"work-{worker_id}", tmp_path / "worker.log")
        workers.append(w)
        return w.start()

    yield repo, block, entered, task_queue, new_worker
    for w in workers:
        w.stop()
    block.unlink(missing_ok=True)


async def _start(client, task_queue: str, repo, unique: str):
    gantry = Gantry(client, task_queue)
    project = f"crash-{unique}"
    await apply_text(gantry, pipeline_manifests(project, repo.url))
    freight = await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "7.0.0"}]}
    )
    options = PromotionOptions(
        step_heartbeat_timeout=timedelta(seconds=3), worker_wait_timeout=timedelta(seconds=6)
    )
    return await gantry.promote(project, "dev", freight["name"], options=options)


async def test_sigkill_during_git_push_then_restart(client, crash_setup, unique: str) -> None:
    repo, block, entered, task_queue, new_worker = crash_setup
    before = repo.commits()
    block.touch()
    worker = new_worker("host-a")
    handle = await _start(client, task_queue, repo, unique)

    await wait_for(entered.exists, timeout=60, message="git-push to reach the remote's hook")
    worker.kill_group()
    block.unlink()
    assert repo.commits() == before, "the push must not have landed before the kill"

    new_worker("host-a")  # same id, same disk: it takes back the step
    status = await asyncio.wait_for(handle.result(), 90)

    assert status.phase == "Succeeded", status
    assert len(repo.commits()) == len(before) + 1
    assert "newTag: 7.0.0" in repo.show("env/dev/kustomization.yaml")
    push = status.steps[3]
    assert push.uses == "git-push" and push.status == "Succeeded"
    assert status.restarts == 0


async def test_worker_lost_for_good_moves_to_another_worker(client, crash_setup, unique: str) -> None:
    repo, block, entered, task_queue, new_worker = crash_setup
    before = repo.commits()
    block.touch()
    worker = new_worker("host-a")
    handle = await _start(client, task_queue, repo, unique)

    await wait_for(entered.exists, timeout=60, message="git-push to reach the remote's hook")
    worker.kill_group()
    block.unlink()

    new_worker(f"host-b-{uuid.uuid4().hex[:4]}")  # another machine: host-a's disk is gone
    status = await asyncio.wait_for(handle.result(), 120)

    assert status.phase == "Succeeded", status
    assert status.restarts == 1
    assert len(repo.commits()) == len(before) + 1
    assert "newTag: 7.0.0" in repo.show("env/dev/kustomization.yaml")
