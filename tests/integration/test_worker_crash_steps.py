"""kill -9 of the worker inside git-clone, git-commit and git-push, then a restart with the
same worker id: each promotion still succeeds with exactly one new commit on the remote.

How a step is held at a known point: the worker subprocess gets its own ``HOME`` whose
``.gitconfig`` sets ``core.hooksPath`` to a directory of test hooks. Each hook touches
``entered-<point>`` and waits while ``block-<point>`` exists.

- git-clone: ``post-checkout`` (the step clones with ``--no-checkout``, then runs
  ``git checkout``, which runs the hook);
- git-commit: ``prepare-commit-msg``, before the commit object exists. The step commits
  with ``--no-verify``, which skips ``pre-commit``, so ``pre-commit`` cannot hold it;
- git-commit, after the commit: ``post-commit``, the local commit exists but the step has
  not reported it;
- git-push: the remote's ``pre-receive`` (``git receive-pack`` runs under the pushing
  git's environment, so it reads the same global config).

``GIT_CONFIG_GLOBAL`` would be the obvious way to point git at the test config, but
``activities.git_ops`` removes every ``GIT_*`` variable from git's environment, so the
test sets ``HOME`` instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from tests.conftest import wait_for
from tests.integration.test_worker_crash import start_promotion
from tests.pipelines import make_gitops_repo
from tests.workerproc import Gate, WorkerPool, write_hook
from workflows.messages import PromotionOptions

pytestmark = pytest.mark.integration

STEPS = ["git-clone", "kustomize-set-image", "git-commit", "git-push"]
OPTIONS = PromotionOptions(step_heartbeat_timeout=timedelta(seconds=3), worker_wait_timeout=timedelta(seconds=10))


@dataclass(frozen=True)
class KillPoint:
    step: str  # activity type of the step the worker dies in
    hooks: tuple[str, ...]  # hook names that hold it


POINTS = {
    "git-clone": KillPoint("git-clone", ("post-checkout",)),
    "git-commit": KillPoint("git-commit", ("pre-commit", "prepare-commit-msg")),
    "git-commit-after-commit": KillPoint("git-commit", ("post-commit",)),
    "git-push": KillPoint("git-push", ("pre-receive",)),
}


async def step_attempts(handle) -> dict[str, int]:
    """Attempts per step activity type: a retried activity's started event carries its
    last attempt number; a step scheduled again by the workflow counts again."""
    types: dict[int, str] = {}
    attempts: dict[str, int] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            types[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            name = types.get(attrs.scheduled_event_id, "")
            attempts[name] = attempts.get(name, 0) + attrs.attempt
    return {k: v for k, v in attempts.items() if k in STEPS}


@pytest.mark.parametrize("point", list(POINTS))
async def test_kill_9_inside_a_step_then_restart_same_worker(
    client, temporal_address: str, tmp_path: Path, unique: str, point: str
) -> None:
    kill = POINTS[point]
    repo = make_gitops_repo(tmp_path / "remote")
    hooks = tmp_path / "hooks"
    gate = Gate(block=tmp_path / f"block-{point}", entered=tmp_path / f"entered-{point}")
    for name in kill.hooks:
        write_hook(hooks / name, gate)
        if name == "pre-receive":  # also where it would be without core.hooksPath
            write_hook(repo.bare / "hooks" / name, gate)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n")
    # the worker's own git config (GANTRY_GIT_CONFIG, the operator's): git reads no HOME config
    pool = WorkerPool(
        temporal_address, f"gantry-crash-steps-{unique}", tmp_path, env={"GANTRY_GIT_CONFIG": str(home / ".gitconfig")}
    )
    try:
        before = repo.commits()
        gate.close()
        worker = pool.start("host-a")
        handle = await start_promotion(client, pool.task_queue, repo, unique, options=OPTIONS)

        await wait_for(gate.entered.exists, timeout=60, message=f"{kill.step} to reach its {'/'.join(kill.hooks)} hook")
        worker.kill_group()
        gate.open()
        assert repo.commits() == before, "nothing may reach the remote before the kill"

        pool.start("host-a")  # same id, same disk: it takes the step back
        status = await asyncio.wait_for(handle.result(), 90)

        assert status.phase == "Succeeded", (status, pool.log_tail())
        assert [(s.uses, s.status) for s in status.steps] == [(s, "Succeeded") for s in STEPS]
        assert status.restarts == 0, "the restarted worker with the same id continues; no move to another worker"
        after = repo.commits()
        assert len(after) == len(before) + 1 and after[1:] == before, "exactly one new commit, on top of the old head"
        assert status.state[status.steps[3].alias]["commit"] == after[0], status.state
        assert "newTag: 7.0.0" in repo.show("env/dev/kustomization.yaml")
        assert "registry.test/app:7.0.0" in repo.message()

        attempts = await step_attempts(handle)
        assert attempts[kill.step] >= 2, f"the kill should have hit {kill.step}: {attempts}"
        assert all(n == 1 for s, n in attempts.items() if s != kill.step), attempts
    finally:
        pool.stop_all()
        gate.open()
