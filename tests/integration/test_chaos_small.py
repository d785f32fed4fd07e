"""A small chaos run (bench/chaos.py, smaller): promotions through 3 Stages with
verification and soaks while one worker is SIGKILLed and comes back on the same disk, one is
SIGKILLed for good (another worker takes over), and the dev server is restarted once.
Every expected commit lands exactly once, no Stage stays locked, no Freight is lost, every
promotion succeeds, and each kill's affected promotions run activities again.

The run starts its own dev server (it restarts it) and worker processes of this checkout.
Short PromotionOptions (3 s heartbeat timeout, 6 s worker wait) keep it quick; the bench
measures the defaults.
"""

from __future__ import annotations

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
