"""The seed document's three-stage pipeline (examples/seed-pipeline), end to end: new
Freight auto-promotes to dev, then to staging, where integration tests (a local job) and
Prometheus error-rate checks verify it; prod is promoted by hand once the soak in staging
is over, through a pull request (the seed's pr-flow task) that a reviewer merges on the
loopback Gitea, and verified the same way. Durations are shortened; everything else is real:
git, the merge, Temporal, Prometheus."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.conftest import WorkerHandle, wait_for
from tests.integration.test_promotion import apply_text
from tests.fakes.gitea import GiteaFake
from tests.fakes.gitservice import git
from tests.pipelines import make_gitops_repo
from workflows.messages import PromotionStatus

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed-pipeline" / "manifests.yaml"
#: the GitOps repository's credential, as the worker's environment gives it (its API token)
CREDENTIALS = ("GANTRY_GIT_CREDENTIALS_SEED_URL", "GANTRY_GIT_CREDENTIALS_SEED_PASSWORD")


def show(githost: GiteaFake, path: str, branch: str = "main") -> str:
    return git("--git-dir", str(githost.bare("seed/gitops")), "show", f"{branch}:{path}").stdout


async def test_seed_pipeline_end_to_end(worker: WorkerHandle, prometheus, tmp_path: Path, unique: str) -> None:  # noqa: F811
    await run_seed_pipeline(worker, prometheus, tmp_path, f"seed-{unique}")


async def run_seed_pipeline(worker: WorkerHandle, prometheus, tmp_path: Path, project: str) -> None:
    """The whole pipeline, asserted on the way (also recorded by scripts/record_histories.py).
    The GitOps repository is served by the Gitea fake, as examples/seed-pipeline/run.sh does."""
    source = make_gitops_repo(tmp_path / "remote")
    token = "seed-token"
    with GiteaFake(tmp_path / "githost", token=token) as githost:
        githost.add_repo("seed/gitops", source.bare)
        saved = {k: os.environ.get(k) for k in CREDENTIALS}
        os.environ.update({CREDENTIALS[0]: githost.base_url + "/", CREDENTIALS[1]: token})
        try:
            await _run(worker, prometheus, project, githost)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


async def _run(worker: WorkerHandle, prometheus, project: str, githost: GiteaFake) -> None:
    repo = githost.repo_url("seed/gitops")
    text = (
        EXAMPLE.read_text()
        .replace("seed-pipeline", project)
        .replace("http://127.0.0.1:3000/seed/gitops.git", repo)
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

    async def pull_request() -> list:  # prod waits for review once the soak is over
        return githost.prs("seed/gitops")

    [pr] = await wait_for(pull_request, timeout=60, message="prod's pull request")
    assert pr.target == "main" and pr.source == f"kargo/promotion/{handle.id.rsplit('/', 1)[-1]}"
    assert "newTag: 2.4.6" not in show(githost, "env/prod/kustomization.yaml"), "prod changes only by review"
    githost.merge("seed/gitops", pr.number, by="reviewer")
    prod = await asyncio.wait_for(gantry.promotion_result(handle.id), 90)
    assert prod.phase == "Succeeded" and prod.verified_at is not None, prod
    assert prod.state["review::wait-for-pr"]["commit"] == githost.head("seed/gitops", "main")
    for env in ("dev", "staging", "prod"):
        assert "newTag: 2.4.6" in show(githost, f"env/{env}/kustomization.yaml")
    assert not [p for p in await gantry.promotions(project, "prod") if p["id"].endswith(".auto." + freight["name"][:12])]
