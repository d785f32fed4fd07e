"""The seed document's three-stage pipeline (examples/seed-pipeline), end to end: new
Freight auto-promotes to dev, then to staging, where integration tests (a local job) and
Prometheus error-rate checks verify it; prod is promoted by hand once the soak in staging
is over, and verified the same way. Durations are shortened; everything else is real."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import WorkerHandle, wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo
from workflows.messages import PromotionStatus

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed-pipeline" / "manifests.yaml"


async def test_seed_pipeline_end_to_end(worker: WorkerHandle, prometheus, tmp_path: Path, unique: str) -> None:  # noqa: F811
    await run_seed_pipeline(worker, prometheus, tmp_path, f"seed-{unique}")


async def run_seed_pipeline(worker: WorkerHandle, prometheus, tmp_path: Path, project: str) -> None:
    """The whole pipeline, asserted on the way (also recorded by scripts/record_histories.py)."""
    repo = make_gitops_repo(tmp_path / "remote")
    text = (
        EXAMPLE.read_text()
        .replace("seed-pipeline", project)
        .replace("file:///tmp/gantry-seed/gitops.git", repo.url)
        .replace("http://127.0.0.1:9090", prometheus.address)
        .replace("interval: 30s", "interval: 1s")
        .replace("requiredSoakTime: 1h", "requiredSoakTime: 3s")
    )
    for env in ("staging", "prod"):
        prometheus.app.set_error_rate(0.01, app="my-app", namespace=env)
    prometheus.wait_for('sum(rate(http_requests_total{app="my-app",namespace="prod"}[5m]))')
    await apply_text(worker.gantry, text)
    gantry = worker.gantry

    freight = await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "my-warehouse"}, "images": [{"repoURL": "my-registry/my-app", "tag": "2.4.6"}]}
    )

    async def verified_in(stage: str) -> bool:
        found = await gantry.get_freight(project, freight["name"])
        return stage in (found["status"].get("verifiedIn") or {})

    await wait_for(lambda: verified_in("dev"), timeout=60, message="auto-promotion to dev")
    await wait_for(lambda: verified_in("staging"), timeout=90, message="auto-promotion and verification in staging")

    async def staging_succeeded() -> list:  # the listing reads visibility: eventually consistent
        return [p for p in await gantry.promotions(project, "staging") if p["phase"] == "Succeeded"]

    staging = await wait_for(staging_succeeded, timeout=20, message="the staging promotion in the listing")
    status = await gantry.promotion_status(staging[0]["id"])
    assert status.verification.startswith("Successful"), status.verification
    assert [s.alias for s in status.steps] == ["task-1::clone", "task-1::set-image", "task-1::commit", "task-1::push"]

    # prod is manual: refused while soaking, then waits for the soak and verifies
    refused = await (await gantry.promote(project, "prod", freight["name"])).result()
    assert refused.phase == "Failed" and "soaking in staging" in refused.message
    handle = await gantry.client.start_workflow(
        "PromotionWorkflow",
        {"project": project, "stage": "prod", "freight": freight["name"], "wait_for_soak": True},
        id=f"promotion/{project}/prod/manual",
        task_queue=worker.task_queue,
        result_type=PromotionStatus,
    )
    prod = await asyncio.wait_for(gantry.promotion_result(handle.id), 90)
    assert prod.phase == "Succeeded" and prod.verified_at is not None, prod
    for env in ("dev", "staging", "prod"):
        assert "newTag: 2.4.6" in repo.show(f"env/{env}/kustomization.yaml")
    assert not [p for p in await gantry.promotions(project, "prod") if p["id"].endswith(".auto." + freight["name"][:12])]
