"""A real promotion on a real Temporal dev server into a real git repository."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from client.api import Gantry, GantryError
from client.applying import plan_apply
from client.devserver import temporal_binary
from client.manifests import LoadedManifests
from pipeline.manifests import parse_documents
from tests.conftest import WorkerHandle, wait_for
from tests.pipelines import make_gitops_repo, pipeline_manifests
from workflows.messages import PromotionStatus

pytestmark = pytest.mark.integration


async def apply_text(gantry: Gantry, text: str, file: str = "pipeline.yaml") -> list[str]:
    plan = plan_apply(LoadedManifests(documents=parse_documents(text, file)))
    return await gantry.apply(plan.documents)


async def setup_project(worker: WorkerHandle, tmp_path: Path, unique: str):
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"shop-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url))
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "1.2.3"}]}
    )
    return repo, project, freight


async def test_promotion_pushes_the_new_image_tag(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    before = repo.commits()

    handle = await worker.gantry.promote(project, "dev", freight["alias"], actor="tester")
    status = await asyncio.wait_for(handle.result(), 60)

    assert status.phase == "Succeeded", status
    assert [s.status for s in status.steps] == ["Succeeded"] * 4
    assert len(repo.commits()) == len(before) + 1
    overlay = repo.show("env/dev/kustomization.yaml")
    assert "newTag: 1.2.3" in overlay and "name: registry.test/app" in overlay
    assert "# the dev overlay" in overlay, "comments must survive the edit"
    assert "registry.test/app:1.2.3" in repo.message()
    # the catalog knows where the Freight is now
    stages = {s.name: s for s in await worker.gantry.stages(project)}
    assert stages["dev"].freight == freight["name"]
    found = await worker.gantry.get_freight(project, freight["alias"])
    assert "dev" in found["status"]["currentlyIn"]


async def test_history_is_readable_in_temporal_web(worker: WorkerHandle, client: Client, tmp_path: Path, unique: str) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    handle = await worker.gantry.promote(project, "dev", freight["name"])
    await asyncio.wait_for(handle.result(), 60)

    assert handle.id.startswith(f"promotion/{project}/dev/dev.")
    description = await handle.describe()
    assert "to dev" in (await description.static_summary() or "")
    scheduled = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            summary = event.user_metadata.summary.data.decode() if event.user_metadata.HasField("summary") else ""
            scheduled.append((attrs.activity_type.name, summary))
    step_rows = [row for row in scheduled if row[0] in ("git-clone", "kustomize-set-image", "git-commit", "git-push")]
    assert [name for name, _ in step_rows] == ["git-clone", "kustomize-set-image", "git-commit", "git-push"]
    assert json.loads(step_rows[3][1]) == "git-push ./src -> main"
    assert repo.url in json.loads(step_rows[0][1])
    # search attributes find it
    async def listed() -> bool:  # visibility is eventually consistent
        found = [e.id async for e in client.list_workflows(f"GantryProject='{project}' AND GantryPhase='Succeeded'")]
        return handle.id in found

    await wait_for(listed, timeout=10, message="the promotion to be found by its search attributes")


async def test_start_with_the_temporal_cli_json_only(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    workflow_id = f"promotion/{project}/dev/by-cli"
    payload = json.dumps({"project": project, "stage": "dev", "freight": freight["alias"]})
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(), "workflow", "start", "--address", temporal_address,
        "--type", "PromotionWorkflow", "--task-queue", worker.task_queue,
        "--workflow-id", workflow_id, "--input", payload,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()

    status = await asyncio.wait_for(worker.gantry.promotion_result(workflow_id), 60)
    assert status.phase == "Succeeded", status
    assert status.freight == freight["name"]
    assert "newTag: 1.2.3" in repo.show("env/dev/kustomization.yaml")


async def test_unknown_freight_and_stage_are_clear_errors(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    with pytest.raises(GantryError, match="freight 'nope' does not exist"):
        await worker.gantry.promote(project, "dev", "nope")
    with pytest.raises(GantryError, match="stage 'qa' does not exist"):
        await worker.gantry.promote(project, "qa", freight["name"])


async def test_failed_step_fails_the_promotion_and_names_the_field(
    worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    other = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/other", "tag": "9"}]}
    )
    before = repo.commits()
    handle = await worker.gantry.promote(project, "dev", other["name"])
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.phase == "Failed"
    assert status.steps[1].status == "Failed"
    assert "registry.test/app" in status.steps[1].message
    assert status.steps[2].status == "Skipped" and status.steps[3].status == "Skipped"
    assert repo.commits() == before
