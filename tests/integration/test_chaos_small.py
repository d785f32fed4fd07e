"""A small chaos run (bench/chaos.py, smaller): promotions through 3 Stages with
verification and soaks while one worker is SIGKILLed and comes back on the same disk, one is
SIGKILLed for good (another worker takes over), and the dev server is restarted once.
Every expected commit lands exactly once, no Stage stays locked, no Freight is lost, every
promotion succeeds, and each kill's affected promotions run activities again. And the
other side of short heartbeat timeouts: a slow step on a live worker is not taken for dead.

The run starts its own dev server (it restarts it) and worker processes of this checkout.
Short PromotionOptions (3 s heartbeat timeout, 6 s worker wait) keep it quick; the bench
measures the defaults.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bench.chaos import ChaosConfig, run_chaos
from tests.workerproc import REPO_ROOT
from workflows.messages import PromotionOptions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


async def test_small_chaos_run(tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = ChaosConfig(
        tmp=tmp_path, code_root=REPO_ROOT, seed=3, promotions=6, stages=3, kills=2, restarts=1, soak_s=1,
        recovery_deadline_s=60, timeout_s=100,
        options=PromotionOptions(step_heartbeat_timeout=timedelta(seconds=3), worker_wait_timeout=timedelta(seconds=6)),
        log=lines.append,
    )  # fmt: skip
    report = await run_chaos(cfg)
    log = "\n".join(lines)
    worker_log = (tmp_path / "workers.log").read_text(errors="replace")[-3000:] if (tmp_path / "workers.log").exists() else ""
    context = f"\n{report}\n--- run ---\n{log}\n--- workers ---\n{worker_log}"

    assert report.phases == {"Succeeded": 6} and not report.unfinished, context
    assert sum(len(tags) for tags in report.commits.values()) == 6, context
    assert not report.duplicates and not report.missing, context
    assert report.locked == [], context
    assert report.lost_freight == [], context
    assert [k.kind for k in sorted(report.kills, key=lambda k: k.kind)] == ["lost", "restart"], context
    assert len(report.restarts) == 1, context
    for kill in report.kills:
        if kill.affected:
            assert kill.recovery("completed") is not None, f"kill #{kill.index} not recovered{context}"
    assert report.worker_exits == [], context
    assert report.unexplained_timeouts == [], context


async def test_slow_step_is_not_taken_for_dead(client, temporal_address: str, tmp_path: Path, unique: str) -> None:
    """With the default PromotionOptions (10 s heartbeat timeout), a git-push held 14 s by
    the remote's hook on a live worker runs once: it heartbeats, so it is not retried."""
    from temporalio.api.enums.v1 import EventType

    from client.api import Gantry
    from tests.integration.test_promotion import apply_text
    from tests.pipelines import make_gitops_repo, pipeline_manifests
    from tests.workerproc import WorkerPool

    repo = make_gitops_repo(tmp_path / "remote")
    entered = tmp_path / "entered"
    hook = repo.bare / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\necho x >> "{entered}"\nsleep 14\nexit 0\n')
    hook.chmod(0o755)
    task_queue = f"gantry-slow-{unique}"
    pool = WorkerPool(temporal_address, task_queue, tmp_path)
    pool.start("slow-host")
    try:
        gantry = Gantry(client, task_queue)
        project = f"slow-{unique}"
        await apply_text(gantry, pipeline_manifests(project, repo.url))
        freight = await gantry.create_freight(
            project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "3.1.4"}]}
        )
        assert PromotionOptions().step_heartbeat_timeout < timedelta(seconds=14)
        handle = await gantry.promote(project, "dev", freight["name"])
        status = await asyncio.wait_for(handle.result(), 90)
    finally:
        pool.stop_all()
    assert status.phase == "Succeeded", f"{status}\n{pool.log_tail()}"
    assert entered.read_text().count("x") == 1, "git-push ran more than once"
    timed_out = [
        e async for e in handle.fetch_history_events() if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
    ]
    assert timed_out == []
    push = status.steps[3]
    assert push.uses == "git-push" and (push.finished_at - push.started_at) >= timedelta(seconds=14)
