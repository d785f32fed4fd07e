"""ProjectWorkflow: apply as a validated update, the Freight catalog, continue-as-new."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from client.api import Gantry, GantryError
from activities.updates import retry_unprocessed
from tests.conftest import WorkerHandle, wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import pipeline_manifests
from workflows.messages import ApplyRequest, ApplyResult, FreightCreate
from workflows.project import ProjectInput

pytestmark = pytest.mark.integration

CYCLE = """\
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: {project}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      stages: [staging]
"""


async def test_apply_reports_changes_and_is_idempotent(worker: WorkerHandle, unique: str) -> None:
    project = f"p-{unique}"
    text = pipeline_manifests(project, "file:///nowhere.git")
    first = await apply_text(worker.gantry, text)
    assert "stage/dev created" in first and "warehouse/app created" in first
    again = await apply_text(worker.gantry, text)
    assert "stage/dev unchanged" in again
    assert project in await worker.gantry.projects()
    stages = {s.name: s for s in await worker.gantry.stages(project)}
    assert stages["staging"].upstream == ["dev"] and stages["dev"].direct


async def test_rejected_apply_changes_nothing(worker: WorkerHandle, unique: str) -> None:
    project = f"p-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git"))
    before = await worker.gantry.manifests(project)

    with pytest.raises(GantryError) as err:
        await apply_text(worker.gantry, CYCLE.format(project=project), file="cycle.yaml")
    message = str(err.value)
    assert "cycle.yaml" in message and "Stage/dev" in message
    assert "dev -> staging -> dev" in message or "staging -> dev -> staging" in message

    assert await worker.gantry.manifests(project) == before
    # and the rejection left no trace in the history: the update never got in
    handle = worker.gantry.client.get_workflow_handle(f"project/{project}")
    accepted = [e async for e in handle.fetch_history_events() if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 1


async def test_dangling_reference_names_what_is_missing(worker: WorkerHandle, unique: str) -> None:
    project = f"p-{unique}"
    text = CYCLE.format(project=project).replace("stages: [staging]", "direct: true")
    with pytest.raises(GantryError, match='Warehouse "app" does not exist'):
        await apply_text(worker.gantry, text, file="dangling.yaml")
    assert not await worker.gantry.project_exists(project) or not await worker.gantry.stages(project)


async def test_freight_is_named_by_content_and_found_by_alias(worker: WorkerHandle, unique: str) -> None:
    project = f"p-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git"))
    spec = {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "2.0.0"}]}
    one = await worker.gantry.create_freight(project, spec)
    two = await worker.gantry.create_freight(project, spec)
    assert one["name"] == two["name"] and len(one["name"]) == 40
    assert (await worker.gantry.get_freight(project, one["alias"]))["name"] == one["name"]
    assert (await worker.gantry.get_freight(project, one["name"][:8]))["name"] == one["name"]
    with pytest.raises(GantryError, match="Warehouse 'nope' does not exist"):
        await worker.gantry.create_freight(project, {**spec, "origin": {"kind": "Warehouse", "name": "nope"}})


async def test_continue_as_new_keeps_state_and_in_flight_updates(client: Client, worker: WorkerHandle, unique: str) -> None:
    """A tiny history limit forces continue-as-new many times while updates keep coming."""
    project = f"can-{unique}"
    workflow_id = f"project/{project}"
    start = WithStartWorkflowOperation(
        "ProjectWorkflow",
        ProjectInput(name=project, max_history=40),
        id=workflow_id,
        task_queue=worker.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    from client.applying import plan_apply
    from client.manifests import LoadedManifests
    from pipeline.manifests import parse_documents

    documents = plan_apply(
        LoadedManifests(documents=parse_documents(pipeline_manifests(project, "file:///x.git"), "p.yaml"))
    ).documents[project]
    await client.execute_update_with_start_workflow(
        "apply", ApplyRequest(documents=documents, default_project=project), start_workflow_operation=start, result_type=ApplyResult
    )
    handle = client.get_workflow_handle(workflow_id)
    first_run = (await handle.describe()).run_id  # the apply alone is far below the history limit

    # the server admits at most 10 updates in flight per workflow (more get ResourceExhausted
    # and the client's growing backoff, which made this test's time swing from 10 s to
    # minutes on a busy machine): 8 at a time still keeps updates arriving across every
    # continue-as-new
    in_flight = asyncio.Semaphore(8)

    async def add(i: int) -> str:
        freight = {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": f"1.0.{i}"}]}
        # as every Gantry client does: an update that reached the run in the task in which it
        # continued as new was never applied (UnprocessedUpdate) and is sent again
        async with in_flight:
            created = await retry_unprocessed(
                lambda: handle.execute_update("create_freight", FreightCreate(freight=freight), result_type=dict)
            )
        return created["name"]

    names = await asyncio.gather(*(add(i) for i in range(60)))
    gantry = Gantry(client, worker.task_queue)

    async def all_listed() -> bool:  # a Freight the loop just moved out of the catalog lists once
        return {f["name"] for f in await gantry.freight(project)} == set(names)  # visibility has it

    await wait_for(all_listed, timeout=15, message="every Freight made to list")
    assert len(await gantry.stages(project)) == 2
    # the run loop continues as new between its own work (offering the new Freight to
    # Stages), so it may still be on the first run when the last update returns: wait for it
    # (describe reads the execution itself, not eventually consistent visibility)
    async def continued() -> bool:
        return (await handle.describe()).run_id != first_run

    await wait_for(continued, timeout=30, message="the workflow to continue as new")
    for name in names:  # by name: strongly consistent (the catalog, or the FreightWorkflow's memo)
        assert (await gantry.get_freight(project, name))["name"] == name, "nothing lost across the new runs"
    await wait_for(all_listed, timeout=15, message="every Freight to list after the new runs")
    # every run of that burst replays (the worker replays a run whenever its cache misses it)
    from tests.unit.test_replay import replayer

    runs = [e async for e in client.list_workflows(f"WorkflowId='{workflow_id}'")]
    assert len(runs) >= 2
    for run in runs:
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        await replayer().replay_workflow(history)
