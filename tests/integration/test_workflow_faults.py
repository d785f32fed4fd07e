"""A bug never wedges a Stage (issue #11, item 5), shown by injecting faults.

Each test makes a pure function or method of `pipeline/` raise while a workflow runs on the
in-process worker. `pipeline` is passed through the workflow sandbox, so patching it in the
test process reaches the workflows: a module attribute (`step_policies.error_threshold`,
called as `policy.error_threshold`) and a class attribute (`FreightCatalog.add`) at once; a
function a workflow module imported by name (`freight_availability`) for the runs that
start after the patch, since each run imports its workflow module afresh.

No sleeps: every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from client.api import GantryError
from pipeline import availability, step_policies
from pipeline.discovery import freight as discovery_freight
import pipeline.freight as freight_module
from pipeline.freight import FreightCatalog
from tests.conftest import WorkerHandle, wait_for
from tests.gitrepos import git
from tests.httpserver import ScriptedServer
from tests.integration.test_promotion import apply_text
from tests.integration.test_step_semantics import IMAGE, http_step, manifests, ok, result
from workflows.ids import project_workflow_id, warehouse_workflow_id

pytestmark = pytest.mark.integration


class Fault:
    """Makes `original` raise `error` while switched on (and `when(args)` holds)."""

    def __init__(self, original: Any, error: Exception, when: Any = None) -> None:
        self.original, self.error, self.when = original, error, when
        self.on = True
        self.hits = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.on and (self.when is None or self.when(*args, **kwargs)):
            self.hits += 1
            raise self.error
        return self.original(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """Patched onto a class, it is a method: the instance comes first."""
        return self if instance is None else functools.partial(self, instance)


async def new_project(worker: WorkerHandle, unique: str, steps: list[dict[str, Any]]) -> str:
    project = f"fault-{unique}"
    await apply_text(worker.gantry, manifests(project, steps))
    return project


async def new_freight(worker: WorkerHandle, project: str, tag: str) -> dict[str, Any]:
    return await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": tag}]}
    )


async def task_failures(handle: WorkflowHandle) -> int:
    """How often the workflow's task failed (a bug left alone fails it again and again)."""
    return len(
        [e async for e in handle.fetch_history_events() if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    )


async def lock_is_free(worker: WorkerHandle, project: str) -> bool:
    view = await worker.gantry.stage_lock(project, "s")
    return view is not None and view.holder is None and not view.queue


# -- PromotionWorkflow ------------------------------------------------------------------


async def test_a_bug_after_the_lock_ends_the_promotion_errored_and_frees_the_stage(
    worker: WorkerHandle, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = await new_project(worker, unique, [ok("a"), ok("b")])
    first, second = await new_freight(worker, project, "1.0.0"), await new_freight(worker, project, "1.0.1")
    # called for each step, after the lock was granted and a worker claimed
    fault = Fault(step_policies.error_threshold, KeyError("x"))
    monkeypatch.setattr(step_policies, "error_threshold", fault)

    handle = await worker.gantry.promote(project, "s", first["name"], actor="tester")
    status = await result(handle)

    assert fault.hits >= 1, "the fault must have reached the workflow through the sandbox"
    assert status.phase == "Errored", status
    assert status.message.startswith("internal error: KeyError: 'x' (a bug in Gantry"), status.message
    assert "the Stage's lock released" in status.message
    assert [s.status for s in status.steps] == ["Errored", "Pending"], status.steps
    assert await task_failures(handle) == 0, "the bug must end the workflow, not fail its task"
    # the lock is free, and the next promotion to the same Stage runs and succeeds
    await wait_for(lambda: lock_is_free(worker, project), timeout=10, message="the stage lock to be free")
    fault.on = False
    after = await result(await worker.gantry.promote(project, "s", second["name"], actor="tester"))
    assert after.phase == "Succeeded", after
    # the project heard of the Errored promotion as of any other ending
    stages = {s.name: s for s in await worker.gantry.stages(project)}
    assert stages["s"].freight == second["name"]


async def test_a_bug_before_the_lock_gives_back_the_reserved_place(
    worker: WorkerHandle, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = await new_project(worker, unique, [ok("a")])
    first, second = await new_freight(worker, project, "2.0.0"), await new_freight(worker, project, "2.0.1")
    # imported by name into workflows.promotion: a run started after the patch binds it
    fault = Fault(availability.freight_availability, TypeError("unsupported operand"))
    monkeypatch.setattr(availability, "freight_availability", fault)

    handle = await worker.gantry.promote(project, "s", first["name"])  # reserves its place first
    status = await result(handle)

    assert fault.hits >= 1
    assert status.phase == "Errored", status
    assert "internal error: TypeError: unsupported operand" in status.message
    assert await task_failures(handle) == 0
    await wait_for(lambda: lock_is_free(worker, project), timeout=10, message="the reserved place to be given back")
    fault.on = False
    after = await result(await worker.gantry.promote(project, "s", second["name"]))
    assert after.phase == "Succeeded", after


async def test_an_abort_still_ends_a_promotion_aborted(worker: WorkerHandle, unique: str) -> None:
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        step = http_step("forever", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s")
        project = await new_project(worker, unique, [step])
        freight = await new_freight(worker, project, "3.0.0")
        handle = await worker.gantry.promote(project, "s", freight["name"])
        await wait_for(lambda: server.count >= 1, timeout=15, message="the http step to poll")
        await handle.signal("abort", "stop it")
        status = await result(handle)
    assert status.phase == "Aborted" and status.message == "stop it", status
    await wait_for(lambda: lock_is_free(worker, project), timeout=10, message="the stage lock to be free")


async def test_cancelling_the_workflow_still_cancels_it(worker: WorkerHandle, unique: str) -> None:
    """Temporal's own cancellation is not a bug: the workflow ends Canceled, as before."""
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        step = http_step("forever", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s")
        project = await new_project(worker, unique, [step])
        freight = await new_freight(worker, project, "4.0.0")
        handle = await worker.gantry.promote(project, "s", freight["name"])
        await wait_for(lambda: server.count >= 1, timeout=15, message="the http step to poll")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as raised:
            await asyncio.wait_for(handle.handle.result(), 20)
    assert isinstance(raised.value.cause, CancelledError)
    status = await worker.gantry.promotion_result(handle.id)  # cancellation is an abort: the lock is back
    assert status.phase == "Aborted" and status.steps[0].status == "Aborted", status


# -- ProjectWorkflow --------------------------------------------------------------------


async def test_a_bug_in_a_project_update_fails_that_update_only(
    worker: WorkerHandle, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = await new_project(worker, unique, [ok("a")])
    freight = await new_freight(worker, project, "4.0.0")
    fault = Fault(
        freight_module.approval,
        AttributeError("'NoneType' object has no attribute 'get'"),
        when=lambda stage, actor, at: actor == "mallory",
    )
    monkeypatch.setattr(freight_module, "approval", fault)

    with pytest.raises(GantryError, match=r"internal error: AttributeError: 'NoneType' object has no attribute 'get'"):
        await asyncio.wait_for(worker.gantry.approve(project, "s", freight["name"], "mallory"), 20)
    assert fault.hits == 1
    # the project answers the next update and the next query
    await asyncio.wait_for(worker.gantry.approve(project, "s", freight["name"], "alice"), 20)
    approved = await worker.gantry.get_freight(project, freight["name"])
    assert approved["status"]["approvedFor"]["s"]["by"] == "alice"
    assert len(await worker.gantry.stages(project)) == 1
    handle = worker.gantry.client.get_workflow_handle(project_workflow_id(project))
    assert await task_failures(handle) == 0


async def test_a_bug_in_the_promotion_finished_signal_drops_that_signal_only(
    worker: WorkerHandle, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = await new_project(worker, unique, [ok("a")])
    first, second = await new_freight(worker, project, "6.0.0"), await new_freight(worker, project, "6.0.1")
    fault = Fault(FreightCatalog.record_promotion, KeyError("stage"), when=lambda catalog, stage, freight, *a, **kw: freight == first["name"])
    monkeypatch.setattr(FreightCatalog, "record_promotion", fault)

    status = await result(await worker.gantry.promote(project, "s", first["name"]))
    assert status.phase == "Succeeded", status  # the promotion itself went well
    await wait_for(lambda: fault.hits >= 1, timeout=10, message="the project to receive promotion_finished")
    # that one signal was dropped; the project goes on and records the next one
    after = await result(await worker.gantry.promote(project, "s", second["name"]))
    assert after.phase == "Succeeded", after

    async def current() -> bool:
        stages = {s.name: s for s in await worker.gantry.stages(project)}
        return stages["s"].freight == second["name"]

    await wait_for(current, timeout=10, message="the project to record the second promotion")
    handle = worker.gantry.client.get_workflow_handle(project_workflow_id(project))
    assert await task_failures(handle) == 0


# -- WarehouseWorkflow ------------------------------------------------------------------


async def test_a_bug_in_a_warehouse_pass_fails_that_pass_only(
    worker: WorkerHandle, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "app-src"
    git("init", "-q", "-b", "main", str(repo))
    (repo / "README").write_text("v1\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    # imported by name into workflows.warehouse: the Warehouse's run starts after the patch
    fault = Fault(discovery_freight.freight_candidate, KeyError("commits"))
    monkeypatch.setattr(discovery_freight, "freight_candidate", fault)
    project = f"faultwh-{unique}"
    await apply_text(
        worker.gantry,
        f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: {project}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: app
  namespace: {project}
spec:
  subscriptions:
  - git:
      repoURL: file://{repo}
      branch: main
""",
    )
    failed = await asyncio.wait_for(worker.gantry.refresh_warehouse(project, "app", wait=True), 30)
    assert fault.hits >= 1
    assert failed.error.startswith("internal error: KeyError: 'commits' (a bug in Gantry"), failed.error
    assert failed.failed_passes >= 1 and failed.last_freight is None
    fault.on = False  # the same run goes on: its next pass makes the Freight
    good = await asyncio.wait_for(worker.gantry.refresh_warehouse(project, "app", wait=True), 30)
    assert good.error == "" and good.last_freight, good
    handle = worker.gantry.client.get_workflow_handle(warehouse_workflow_id(project, "app"))
    assert await task_failures(handle) == 0


def test_patched_ids_are_stable() -> None:
    """The ids are in running histories once used: renaming one breaks their replay."""
    from workflows import bugs

    assert bugs.PROMOTION_PATCH == "gantry-bug-ends-promotion"
    assert bugs.LONG_LIVED_PATCH == "gantry-bug-survived"


