"""Deleting: `gantry delete` and `gantry apply --prune` end the workflows the objects owned,
refuse while a promotion runs (unless --force) and while others still reference them."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from client.api import Gantry, GantryError
from client.deleting import delete
from pipeline.deletion import ObjectRef
from tests.conftest import WorkerHandle, wait_for
from tests.httpserver import ScriptedServer
from tests.integration.test_cli import gantry
from tests.integration.test_promotion import apply_text
from tests.integration.test_promotion_tasks import project_docs, seed_document, task_step
from tests.integration.test_stages import ALL_AUTO, new_freight
from tests.pipelines import make_gitops_repo, pipeline_manifests
from workflows.ids import freight_workflow_id, project_workflow_id, stage_workflow_id, warehouse_workflow_id
from workflows.messages import UpstreamVerified

pytestmark = pytest.mark.integration

SPARE_WAREHOUSE = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: spare, namespace: {project}}}
spec:
  interval: 1h
  subscriptions: [{{image: {{repoURL: registry.test/spare}}}}]
"""

HANGING_STAGE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  interval: 1h
  subscriptions: [{{image: {{repoURL: registry.test/app}}}}]
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: dev, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: http
        config:
          url: {url}/health
          successExpression: response.body.ready
          pollInterval: 1s
"""


async def status(gantry: Gantry, workflow_id: str) -> WorkflowExecutionStatus | None:
    try:
        return (await gantry.client.get_workflow_handle(workflow_id).describe()).status
    except RPCError:
        return None


async def ended(gantry: Gantry, workflow_id: str, timeout: float = 30) -> None:
    async def done() -> bool:
        return await status(gantry, workflow_id) == WorkflowExecutionStatus.COMPLETED

    await wait_for(done, timeout=timeout, message=f"{workflow_id} to end")


async def running(gantry: Gantry, workflow_id: str) -> None:
    async def up() -> bool:
        return await status(gantry, workflow_id) == WorkflowExecutionStatus.RUNNING

    await wait_for(up, timeout=30, message=f"{workflow_id} to run")


def refs(kind: str, name: str, project: str | None) -> dict[str | None, list[ObjectRef]]:
    return {project: [ObjectRef(kind=kind, name=name)]}


async def test_deleting_a_warehouse_ends_its_discovery_loop(worker: WorkerHandle, unique: str) -> None:
    project = f"del-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git") + SPARE_WAREHOUSE.format(project=project))
    spare = warehouse_workflow_id(project, "spare")
    await running(worker.gantry, spare)

    lines = await delete(worker.gantry, refs("Warehouse", "spare", project))
    assert lines == ["warehouse/spare deleted"]
    await ended(worker.gantry, spare)
    status_now = await worker.gantry.warehouse_status(project, "spare")
    assert status_now is not None and status_now.deleted
    manifests = await worker.gantry.manifests(project)
    assert sorted(manifests["projects"][project]["warehouses"]) == ["app"]
    assert not any("Warehouse/spare" in key for key in manifests["sources"])


async def test_a_referenced_warehouse_is_refused_naming_the_stages(worker: WorkerHandle, unique: str) -> None:
    project = f"del-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git"))
    with pytest.raises(GantryError) as err:
        await delete(worker.gantry, refs("Warehouse", "app", project))
    message = str(err.value)
    assert "Stage 'dev' requests Freight from Warehouse 'app'" in message
    assert "Stage 'staging' requests Freight from Warehouse 'app'" in message
    with pytest.raises(GantryError, match="Stage 'staging' takes Freight from upstream Stage 'dev'"):
        await delete(worker.gantry, refs("Stage", "dev", project))
    assert "app" in (await worker.gantry.manifests(project))["projects"][project]["warehouses"]
    # everything referencing it in the same command: allowed
    targets = [ObjectRef(kind="Warehouse", name="app"), ObjectRef(kind="Stage", name="dev"), ObjectRef(kind="Stage", name="staging")]
    lines = await delete(worker.gantry, {project: targets})
    assert lines == ["warehouse/app deleted", "stage/dev deleted", "stage/staging deleted"]
    assert await worker.gantry.stages(project) == []


async def test_a_stage_is_refused_while_promoting_and_force_aborts_then_deletes(worker: WorkerHandle, unique: str) -> None:
    project = f"del-{unique}"
    with ScriptedServer(then=(200, {"ready": False})) as server:
        await apply_text(worker.gantry, HANGING_STAGE.format(project=project, url=server.url))
        freight = await new_freight(worker.gantry, project, "1.0.0")
        promotion = await worker.gantry.promote(project, "dev", freight["name"])

        async def holds() -> bool:
            lock = await worker.gantry.stage_lock(project, "dev")
            return lock is not None and lock.holder == promotion.id

        await wait_for(holds, timeout=30, message="the promotion to hold the lock")
        name = promotion.id.rsplit("/", 1)[-1]
        with pytest.raises(GantryError) as err:
            await delete(worker.gantry, refs("Stage", "dev", project))
        assert f"dev/{name}" in str(err.value) and "--force" in str(err.value)
        assert [s.name for s in await worker.gantry.stages(project)] == ["dev"]

        lines = await delete(worker.gantry, refs("Stage", "dev", project), force=True)
        assert lines == [f"promotion/{name} aborted", "stage/dev deleted"]
        assert (await asyncio.wait_for(promotion.result(), 30)).phase == "Aborted"
        await ended(worker.gantry, stage_workflow_id(project, "dev"))
        assert await worker.gantry.stages(project) == []


async def test_deleting_a_project_ends_everything_in_it(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"del-{unique}"
    (tmp_path / "p.yaml").write_text(pipeline_manifests(project, repo.url))
    code, out = await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml"))
    assert code == 0, out
    freight = await new_freight(worker.gantry, project, "2.0.0")
    done = await asyncio.wait_for((await worker.gantry.promote(project, "dev", freight["name"])).result(), 60)
    assert done.phase == "Succeeded"
    for workflow_id in (warehouse_workflow_id(project, "app"), stage_workflow_id(project, "dev")):
        await running(worker.gantry, workflow_id)

    code, out = await gantry(temporal_address, worker, "delete", "-f", str(tmp_path / "p.yaml"), "--dry-run")
    assert code == 0 and "stage/dev deleted (dry run)" in out, out
    assert await worker.gantry.project_exists(project)

    code, out = await gantry(temporal_address, worker, "delete", "project", project)
    assert code == 0, out
    assert "project/" + project + " deleted" in out and "warehouse/app deleted" in out and "stage/staging deleted" in out
    for workflow_id in (
        project_workflow_id(project),
        warehouse_workflow_id(project, "app"),
        stage_workflow_id(project, "dev"),
        freight_workflow_id(project, freight["name"]),
    ):
        await ended(worker.gantry, workflow_id)
    code, out = await gantry(temporal_address, worker, "get", "projects", "-o", "json")
    assert project not in out
    code, out = await gantry(temporal_address, worker, "get", "stages", "-p", project, "-o", "json")
    assert code == 1 and f"project {project!r} does not exist" in out, out
    code, out = await gantry(temporal_address, worker, "delete", "project", project)
    assert code == 1 and f"project {project!r} does not exist" in out, out
    # the name can be used again
    code, out = await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml"))
    assert code == 0 and "stage/dev created" in out, out


async def test_apply_prune_deletes_a_stage_dropped_from_the_file(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    project = f"del-{unique}"
    full = pipeline_manifests(project, "file:///nowhere.git") + SPARE_WAREHOUSE.format(project=project)
    await apply_text(worker.gantry, full)
    freight = await new_freight(worker.gantry, project, "3.0.0")
    await worker.gantry.approve(project, "staging", freight["name"], "tester")
    await worker.gantry.approve(project, "dev", freight["name"], "tester")
    dropped = full.split("---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: staging")[0]
    assert "name: staging" not in dropped and "name: spare" not in dropped
    (tmp_path / "p.yaml").write_text(dropped)

    code, out = await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml"), "--prune")
    assert code == 0, out
    assert "stage/dev unchanged" in out and "stage/staging pruned" in out and "warehouse/spare pruned" in out
    assert [s.name for s in await worker.gantry.stages(project)] == ["dev"]
    await ended(worker.gantry, warehouse_workflow_id(project, "spare"))

    async def forgotten() -> bool:  # as Kargo's Stage finalizer: approvals (and verifications) for it go
        approved = ((await worker.gantry.get_freight(project, freight["name"])).get("status") or {}).get("approvedFor") or {}
        return sorted(approved) == ["dev"]

    await wait_for(forgotten, timeout=30, message="the freight to forget the pruned stage")
    code, out = await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml"), "--prune")
    assert code == 0 and "pruned" not in out, out


async def test_cli_names_unknown_objects_and_kinds(worker: WorkerHandle, temporal_address: str, unique: str) -> None:
    project = f"del-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git"))
    code, out = await gantry(temporal_address, worker, "delete", "stage", "stagign", "-p", project)
    assert code == 1 and "did you mean 'staging'" in out, out
    code, out = await gantry(temporal_address, worker, "delete", "stgae", "dev", "-p", project)
    assert code == 2 and "did you mean 'stage'" in out, out
    code, out = await gantry(temporal_address, worker, "delete", "stage", "staging", "-p", project)
    assert code == 0 and "stage/staging deleted" in out, out


async def test_a_cluster_task_in_use_is_refused_naming_the_project_and_stage(
    worker: WorkerHandle, cluster_scope: None, tmp_path: Path, unique: str
) -> None:
    await apply_text(worker.gantry, json.dumps(seed_document("ClusterPromotionTask", "standard-kustomize-promote")) + "\n")
    project = f"del-{unique}"
    step = task_step("standard-kustomize-promote", {"repoURL": "file:///nowhere.git", "environment": "uat", "argocdApp": "a"},
                     kind="ClusterPromotionTask")  # fmt: skip
    (tmp_path / "p.yaml").write_text(project_docs(project, "uat", [step]))
    await apply_text(worker.gantry, (tmp_path / "p.yaml").read_text())
    task = refs("ClusterPromotionTask", "standard-kustomize-promote", None)
    with pytest.raises(GantryError, match=f"Stage 'uat' in project {project} runs ClusterPromotionTask 'standard-kustomize-promote'"):
        await delete(worker.gantry, task)
    # the Stage goes in the same command: the task may go too
    lines = await delete(worker.gantry, {**task, project: [ObjectRef(kind="Stage", name="uat")]})
    assert lines == ["stage/uat deleted", "clusterpromotiontask/standard-kustomize-promote deleted"]
    assert not (await worker.gantry.cluster_manifests())["cluster_promotion_tasks"]


async def test_a_retired_stage_that_is_busy_ends_once_its_lock_is_free(worker: WorkerHandle, unique: str) -> None:
    """The `retire` signal (deleted or never applied) on a Stage whose lock is held: the Stage
    keeps serving its holder, and its workflow ends when the holder is done."""
    project = f"del-{unique}"
    with ScriptedServer(then=(200, {"ready": False})) as server:
        await apply_text(worker.gantry, HANGING_STAGE.format(project=project, url=server.url))
        promotion = await worker.gantry.promote(project, "dev", (await new_freight(worker.gantry, project, "1.0.0"))["name"])

        async def holds() -> bool:
            lock = await worker.gantry.stage_lock(project, "dev")
            return lock is not None and lock.holder == promotion.id

        await wait_for(holds, timeout=30, message="the promotion to hold the lock")
        stage = worker.gantry.client.get_workflow_handle(stage_workflow_id(project, "dev"))
        now = datetime.now(timezone.utc)
        soon = UpstreamVerified(freight="x" * 40, upstream="up", verified_at=now, soak_until=now + timedelta(hours=1))
        await stage.signal("upstream_verified", soon)

        async def pending() -> int:
            lock = await worker.gantry.stage_lock(project, "dev")
            return len(lock.pending) if lock else -1

        await wait_for(lambda: _is(pending(), 1), timeout=10, message="a pending auto-promotion")
        await stage.signal("retire", "test: not applied")
        # a Stage that is not applied auto-promotes nothing, but serves its holder to the end
        await wait_for(lambda: _is(pending(), 0), timeout=10, message="the retired stage to drop its auto-promotions")
        assert await holds() and await status(worker.gantry, stage.id) == WorkflowExecutionStatus.RUNNING
        await worker.gantry.abort_promotion(promotion.id)
        assert (await asyncio.wait_for(promotion.result(), 30)).phase == "Aborted"
        await ended(worker.gantry, stage.id)


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_prune_is_refused_before_applying_while_a_promotion_runs_on_the_stage(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    project = f"del-{unique}"
    with ScriptedServer(then=(200, {"ready": False})) as server:
        full = HANGING_STAGE.format(project=project, url=server.url)
        await apply_text(worker.gantry, full)
        promotion = await worker.gantry.promote(project, "dev", (await new_freight(worker.gantry, project, "1.0.0"))["name"])

        async def holds() -> bool:
            lock = await worker.gantry.stage_lock(project, "dev")
            return lock is not None and lock.holder == promotion.id

        await wait_for(holds, timeout=30, message="the promotion to hold the lock")
        warehouse_only = full.split("---\n")[0].replace("interval: 1h", "interval: 2h")
        (tmp_path / "p.yaml").write_text(warehouse_only)
        code, out = await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml"), "--prune")
        assert code == 1 and promotion.id.rsplit("/", 1)[-1] in out and "--force" in out, out
        manifests = await worker.gantry.manifests(project)
        assert "dev" in manifests["projects"][project]["stages"]
        assert manifests["projects"][project]["warehouses"]["app"]["spec"]["interval"] == "1h", "nothing was applied"
        await worker.gantry.abort_promotion(promotion.id)
        await asyncio.wait_for(promotion.result(), 30)


async def test_a_project_with_a_running_promotion_is_refused_unless_forced(worker: WorkerHandle, unique: str) -> None:
    project = f"del-{unique}"
    with ScriptedServer(then=(200, {"ready": False})) as server:
        await apply_text(worker.gantry, HANGING_STAGE.format(project=project, url=server.url))
        promotion = await worker.gantry.promote(project, "dev", (await new_freight(worker.gantry, project, "1.0.0"))["name"])
        name = promotion.id.rsplit("/", 1)[-1]
        with pytest.raises(GantryError, match=f"dev/{name}"):  # found through the Stage's lock at once
            await delete(worker.gantry, refs("Project", project, project))
        assert await worker.gantry.project_exists(project)
        dry = await delete(worker.gantry, refs("Project", project, project), force=True, dry_run=True)
        assert f"promotion/{name} would be aborted" in dry and "stage/dev deleted (dry run)" in dry
        lines = await delete(worker.gantry, refs("Project", project, project), force=True)
        assert lines[0] == f"promotion/{name} aborted" and f"project/{project} deleted" in lines
        await ended(worker.gantry, project_workflow_id(project))
        await ended(worker.gantry, stage_workflow_id(project, "dev"))


async def test_a_project_applied_again_after_its_deletion_auto_promotes_the_same_freight_anew(
    worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    """The quickstart run twice on one data directory: the project is deleted and applied
    again, and the Warehouse finds the same image, so the Freight has the same name as one of
    the deleted project. It is new Freight of the new project and auto-promotes to dev."""
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"again-{unique}"
    text = pipeline_manifests(project, repo.url) + ALL_AUTO.format(project=project)

    async def reaches_dev(name: str) -> None:
        async def current() -> bool:
            views = {s.name: s for s in await worker.gantry.stages(project)}
            return "dev" in views and views["dev"].freight == name

        await wait_for(current, timeout=60, message=f"freight {name} to reach dev by itself")

    await apply_text(worker.gantry, text)
    first = await new_freight(worker.gantry, project, "1.0.0")
    await reaches_dev(first["name"])
    await delete(worker.gantry, refs("Project", project, project), force=True)
    await ended(worker.gantry, project_workflow_id(project))

    await apply_text(worker.gantry, text)
    again = await new_freight(worker.gantry, project, "1.0.0")
    assert again["name"] == first["name"]
    await reaches_dev(again["name"])
    rows = await worker.gantry.promotions(project, "dev")
    # the deleted project's promotions are not this project's (Kargo deleted them with it)
    assert [r["phase"] for r in rows] == ["Succeeded"] and ".life" in rows[0]["id"], rows
    assert len(await worker.gantry.promotions(project, "dev", collected=True)) == 2
