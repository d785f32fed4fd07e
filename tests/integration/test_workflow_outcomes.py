"""What Temporal (and so Temporal Web and the `temporal` CLI) shows of a promotion's end:
Failed and Errored promotions fail their workflow, aborted ones are Canceled, a bad input
fails at once naming the field, and nothing makes a Stage workflow for a Stage that is not
applied."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from client.api import GantryError
from client.devserver import temporal_binary
from tests.conftest import WorkerHandle, wait_for
from tests.httpserver import ScriptedServer
from tests.integration.test_promotion import apply_text, setup_project
from tests.integration.test_stages import new_freight
from workflows import search_attributes as sa
from workflows.ids import stage_workflow_id
from workflows.messages import StageLockView

pytestmark = pytest.mark.integration


async def temporal_cli(address: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(), *args, "--address", address, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def listed_by_cli(address: str, query: str, workflow_id: str) -> bool:
    """The `temporal` CLI's list finds `workflow_id` (visibility is eventually consistent)."""
    code, out = await temporal_cli(address, "workflow", "list", "--query", query, "-o", "json")
    return code == 0 and any(row.get("execution", {}).get("workflowId") == workflow_id for row in json.loads(out or "[]"))


async def ended(client: Client, workflow_id: str) -> WorkflowExecutionStatus:
    async def status() -> WorkflowExecutionStatus | None:
        found = (await client.get_workflow_handle(workflow_id).describe()).status
        return None if found == WorkflowExecutionStatus.RUNNING else found

    return await wait_for(status, timeout=60, message=f"{workflow_id} to end")


async def stage_workflow_exists(client: Client, project: str, stage: str) -> bool:
    try:
        await client.get_workflow_handle(stage_workflow_id(project, stage)).describe()
        return True
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


async def test_a_failed_promotion_fails_its_workflow(
    worker: WorkerHandle, client: Client, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    other = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/other", "tag": "9"}]}
    )
    handle = await worker.gantry.promote(project, "dev", other["name"])
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.phase == "Failed" and status.steps[1].status == "Failed", status

    assert await ended(client, handle.id) == WorkflowExecutionStatus.FAILED
    with pytest.raises(WorkflowFailureError) as failed:
        await client.get_workflow_handle(handle.id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PromotionFailed" and cause.non_retryable
    assert "step set-image (kustomize-set-image)" in cause.message and cause.message.startswith("Failed: ")
    description = await client.get_workflow_handle(handle.id).describe()
    assert description.typed_search_attributes.get(sa.PHASE) == "Failed"
    # the queries the README gives, through the `temporal` CLI
    await wait_for(
        lambda: listed_by_cli(temporal_address, f'GantryProject="{project}" AND GantryPhase="Failed"', handle.id),
        timeout=20, message="the failed promotion under GantryPhase=Failed",
    )  # fmt: skip
    await wait_for(
        lambda: listed_by_cli(temporal_address, f'GantryProject="{project}" AND ExecutionStatus="Failed"', handle.id),
        timeout=20, message="the failed promotion under ExecutionStatus=Failed",
    )  # fmt: skip
    # a good one still completes
    good = await worker.gantry.promote(project, "dev", freight["name"])
    assert (await asyncio.wait_for(good.result(), 60)).phase == "Succeeded"
    assert await ended(client, good.id) == WorkflowExecutionStatus.COMPLETED


async def test_an_aborted_promotion_is_canceled_and_skips_the_rest(
    worker: WorkerHandle, client: Client, temporal_address: str, unique: str
) -> None:
    project = f"abort-{unique}"
    with ScriptedServer(then=(200, {"ready": False})) as server:
        await apply_text(
            worker.gantry,
            f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
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
        as: wait-ready
        config:
          url: {server.url}/health
          successExpression: response.body.ready
          pollInterval: 1s
      - uses: compose-output
        as: after
        config: {{x: 1}}
""",
        )
        f1 = await new_freight(worker.gantry, project, "5.0.0")
        first = await worker.gantry.promote(project, "dev", f1["name"])

        async def polling() -> bool:
            status = await worker.gantry.promotion_status(first.id)
            return bool(status.steps) and status.steps[0].status == "Running"

        await wait_for(polling, timeout=30, message="the first step to poll")
        await worker.gantry.abort_promotion(first.id, "aborted by tester")
        status = await asyncio.wait_for(first.result(), 30)
        assert status.phase == "Aborted" and "aborted by tester" in status.message, status
        assert [s.status for s in status.steps] == ["Aborted", "Skipped"], status.steps
        assert await ended(client, first.id) == WorkflowExecutionStatus.CANCELED
        await wait_for(
            lambda: listed_by_cli(temporal_address, f'GantryProject="{project}" AND GantryPhase="Aborted"', first.id),
            timeout=20, message="the aborted promotion under GantryPhase=Aborted",
        )  # fmt: skip
        # the lock was given back: the Stage is free
        view = await client.get_workflow_handle(stage_workflow_id(project, "dev")).query("lock", result_type=StageLockView)
        assert view.holder is None and not view.queue, view
        with pytest.raises(GantryError, match="is not running"):
            await worker.gantry.abort_promotion(first.id)


async def test_unknown_project_and_stage_are_refused_before_anything_starts(
    worker: WorkerHandle, client: Client, tmp_path: Path, unique: str
) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    with pytest.raises(GantryError, match=r"stage 'qa' does not exist in project .* \(stages: dev, staging\)"):
        await worker.gantry.promote(project, "qa", freight["name"])
    assert not await stage_workflow_exists(client, project, "qa")
    with pytest.raises(GantryError, match=r"project 'nope-[0-9a-f]+' does not exist"):
        await worker.gantry.promote(f"nope-{unique}", "dev", freight["name"])


async def test_a_stage_workflow_for_a_stage_not_applied_ends(
    worker: WorkerHandle, client: Client, tmp_path: Path, unique: str
) -> None:
    """Made the way older clients made them (a lock request for a Stage that is not
    applied); garbage collection tells it to retire and it ends, being idle."""
    from workflows.stage import signal_stage

    repo, project, freight = await setup_project(worker, tmp_path, unique)
    await signal_stage(client, worker.task_queue, project, "qa", "release", "nobody")
    await signal_stage(client, worker.task_queue, project, "dev", "release", "nobody")
    assert await stage_workflow_exists(client, project, "qa")

    listed = await wait_for(
        lambda: _retired(worker, client, project), timeout=30, message="the listing to show qa's workflow, then retire it"
    )
    assert listed == ["qa"]
    assert await ended(client, stage_workflow_id(project, "qa")) == WorkflowExecutionStatus.COMPLETED
    description = await client.get_workflow_handle(stage_workflow_id(project, "dev")).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING, "an applied Stage's workflow stays"


async def _manifests(worker: WorkerHandle, project: str):
    from pipeline.manifests import ManifestSet

    return ManifestSet.model_validate(await worker.gantry.manifests(project))


async def _retired(worker: WorkerHandle, client: Client, project: str) -> list[str] | None:
    from activities.garbage import GarbageActivities

    retired = await GarbageActivities(client, worker.task_queue)._retire_unknown_stages(project, await _manifests(worker, project))
    return retired or None


@pytest.mark.parametrize(
    ("payload", "workflow_id", "expected"),
    [
        ('{{"project": "{project}", "stgae": "dev", "freight": "x"}}', "promotion/{project}/dev/typo",
         ["field 'stage': required", "field 'stgae': not a field of the input"]),
        (None, "promotion/{project}/dev/none", ["needs one input", "freight", "project", "stage"]),
        ('{{"project": "{project}", "stage": "dev", "freight": "x", "dry_run": "often"}}', "promotion/{project}/dev/type",
         ["field 'dry_run'"]),
        ('{{"project": "{project}", "stage": "dev", "freight": "x"}}', "my-promotion",
         ["workflow id 'my-promotion' is not of the form promotion/{project}/dev/<name>"]),
    ],
)  # fmt: skip
async def test_a_bad_input_fails_at_once_naming_the_field(
    worker: WorkerHandle, client: Client, temporal_address: str, unique: str, payload, workflow_id: str, expected
) -> None:
    project = f"input-{unique}"
    workflow_id = workflow_id.format(project=project)
    args = ["workflow", "start", "--type", "PromotionWorkflow", "--task-queue", worker.task_queue, "--workflow-id", workflow_id]
    if payload is not None:
        args += ["--input", payload.format(project=project)]
    code, out = await temporal_cli(temporal_address, *args)
    assert code == 0, out
    assert await ended(client, workflow_id) == WorkflowExecutionStatus.FAILED
    with pytest.raises(WorkflowFailureError) as failed:
        await client.get_workflow_handle(workflow_id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "BadInput" and cause.non_retryable
    for text in expected:
        assert text.format(project=project) in cause.message, cause.message
    assert not await stage_workflow_exists(client, project, "dev")
