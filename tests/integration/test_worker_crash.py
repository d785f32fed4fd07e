"""SIGKILL of the worker in the middle of `git-push`: the promotion still finishes, with
exactly one new commit on the remote.

The remote's pre-receive hook holds the push while a `block` file exists, so the test
knows the worker is inside git-push when it kills it. The worker runs in its own process
group, and the whole group is killed, as when a machine dies.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from client.api import Gantry
from tests.conftest import wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.workerproc import Gate, WorkerPool, write_hook
from workflows.messages import PromotionOptions

pytestmark = pytest.mark.integration


@pytest.fixture
def crash_setup(client, temporal_address: str, tmp_path: Path, unique: str):
    repo = make_gitops_repo(tmp_path / "remote")
    gate = Gate(block=tmp_path / "block", entered=tmp_path / "entered")
    write_hook(repo.bare / "hooks" / "pre-receive", gate)
    task_queue = f"gantry-crash-{unique}"
    pool = WorkerPool(temporal_address, task_queue, tmp_path)

    yield repo, gate.block, gate.entered, task_queue, pool.start
    pool.stop_all()
    gate.open()


async def start_promotion(client, task_queue: str, repo, unique: str, options: PromotionOptions | None = None):
    """Apply the dev -> staging pipeline into ``repo`` and promote Freight with tag 7.0.0 to dev."""
    gantry = Gantry(client, task_queue)
    project = f"crash-{unique}"
    await apply_text(gantry, pipeline_manifests(project, repo.url))
    freight = await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "7.0.0"}]}
    )
    options = options or PromotionOptions(
        step_heartbeat_timeout=timedelta(seconds=3), worker_wait_timeout=timedelta(seconds=6)
    )
    return await gantry.promote(project, "dev", freight["name"], options=options)


async def test_sigkill_during_git_push_then_restart(client, crash_setup, unique: str) -> None:
    repo, block, entered, task_queue, new_worker = crash_setup
    before = repo.commits()
    block.touch()
    worker = new_worker("host-a")
    handle = await start_promotion(client, task_queue, repo, unique)

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
    handle = await start_promotion(client, task_queue, repo, unique)

    await wait_for(entered.exists, timeout=60, message="git-push to reach the remote's hook")
    worker.kill_group()
    block.unlink()

    new_worker(f"host-b-{uuid.uuid4().hex[:4]}")  # another machine: host-a's disk is gone
    status = await asyncio.wait_for(handle.result(), 120)

    assert status.phase == "Succeeded", status
    assert status.restarts == 1
    assert len(repo.commits()) == len(before) + 1
    assert "newTag: 7.0.0" in repo.show("env/dev/kustomization.yaml")
