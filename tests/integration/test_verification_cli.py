"""`gantry analyze`, `gantry verify` (re-run and abort) and `gantry verification logs`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import WorkerHandle, wait_for
from tests.jobs import JOB_PYTHON  # a python the job's user can run (nobody under a root worker)
from tests.integration.test_cli import gantry
from tests.integration.test_promotion import apply_text
from tests.integration.test_verification import PIPELINE, SMOKE

pytestmark = pytest.mark.integration

SLOW_JOB = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: slow, namespace: {project}}}
spec:
  metrics:
  - name: slow
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: slow
                image: local/slow
                command: ["{python}", "-c", "import time; print('started', flush=True); time.sleep(120)"]
          backoffLimit: 0
"""


async def test_analyze_runs_templates_from_disk(worker: WorkerHandle, temporal_address: str, tmp_path: Path) -> None:
    good = tmp_path / "smoke.yaml"
    good.write_text(SMOKE.format(project="x", python=JOB_PYTHON, good="1.2.3"))
    code, out = await gantry(temporal_address, worker, "analyze", "-f", str(good), "--arg", "image-tag=1.2.3")
    assert code == 0, out
    assert "Successful" in out and "metric smoke: Successful" in out and "testing 1.2.3" in out
    code, out = await gantry(temporal_address, worker, "analyze", "-f", str(good), "--arg", "image-tag=0.0.1")
    assert code == 1 and "Failed" in out
    code, out = await gantry(temporal_address, worker, "analyze", "-f", str(good))
    assert code == 1 and "image-tag" in out


async def test_reverify_and_abort(worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str) -> None:
    project = f"rv-{unique}"
    text = PIPELINE.format(project=project, refs="    - name: smoke-test") + SMOKE.format(
        project=project, python=JOB_PYTHON, good="1.0.0"
    )
    await apply_text(worker.gantry, text)
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "my-registry/my-app", "tag": "1.0.0"}]}
    )
    assert (await (await worker.gantry.promote(project, "uat", freight["name"])).result()).verified_at

    code, out = await gantry(temporal_address, worker, "verify", "-p", project, "-s", "uat")
    assert code == 0, out
    assert "Successful" in out
    history = await worker.gantry.verification_history(project, "uat")
    assert [h["phase"] for h in history] == ["Successful", "Successful"]
    kept = await worker.gantry.client.get_workflow_handle(f"stage/{project}/uat").query("history")
    assert len(kept["verifications"]) == 2 and kept["visits"][0]["freight"] == freight["name"], "the Stage keeps them"

    # a verification that hangs, aborted from the CLI: Failed, "aborted by user", Freight verified before stays so
    slow = text.replace("    - name: smoke-test", "    - name: slow") + "---\n" + SLOW_JOB.format(project=project, python=JOB_PYTHON)
    await apply_text(worker.gantry, slow)
    handle = await worker.gantry.reverify(project, "uat")
    await wait_for(lambda: worker.gantry.running_verification(project, "uat"), timeout=30, message="verification to start")
    code, out = await gantry(temporal_address, worker, "verification", "logs", "-p", project, "-s", "uat")
    assert code == 0, out
    code, out = await gantry(temporal_address, worker, "verify", "-p", project, "-s", "uat", "--abort")
    assert code == 0, out
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.verified_at is None and status.verification.startswith("Failed") and "aborted by user" in status.verification
    found = await worker.gantry.get_freight(project, freight["name"])
    assert "uat" in found["status"]["verifiedIn"], "a failed re-verification does not unverify"


async def test_get_stage_lists_verification_runs(worker: WorkerHandle, temporal_address: str, unique: str) -> None:
    project = f"gs-{unique}"
    text = PIPELINE.format(project=project, refs="    - name: smoke-test") + SMOKE.format(
        project=project, python=JOB_PYTHON, good="1.0.0"
    )
    await apply_text(worker.gantry, text)
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "my-registry/my-app", "tag": "1.0.0"}]}
    )
    await (await worker.gantry.promote(project, "uat", freight["name"])).result()
    code, out = await gantry(temporal_address, worker, "get", "stage", "uat", "-p", project)
    assert code == 0, out
    assert "Successful" in out and freight["name"][:12] in out
