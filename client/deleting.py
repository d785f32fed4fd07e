"""`gantry delete` and `gantry apply --prune`: what only a client can check before the
ProjectWorkflow's `delete` update (or `apply` with prune) plans and refuses on its own.

A promotion running on a Stage that goes is the client's to find (visibility and the Stage's
lock; the project keeps no promotions): it refuses, or with `force` aborts each through
Temporal's cancellation (as `gantry promote --abort`) and waits for it to end. References to a
cluster-scoped task or template live in the projects, so the client reads them all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import query_literal
from activities.updates import retry_unprocessed
from client.api import Gantry, GantryError
from pipeline.deletion import ObjectRef, blocking, plan_deletion, prune_targets, without
from pipeline.manifests import ManifestSet
from workflows.failures import cause_message
from workflows.ids import CLUSTER_WORKFLOW_ID, project_workflow_id
from workflows.messages import DeleteRequest, DeleteResult

#: how long `--force` waits for an aborted promotion to end
ABORT_WAIT = 120.0


async def running_promotions(gantry: Gantry, project: str, stages: list[str], *, every: bool = False) -> list[str]:
    """Workflow ids of the promotions running (or holding or waiting for the lock) on `stages`
    (`every`: on any Stage of the project, applied or not). The Stages' locks are read too:
    visibility may not list a promotion started a moment ago."""
    query = f"WorkflowType='PromotionWorkflow' AND ExecutionStatus='Running' AND GantryProject={query_literal(project)}"
    found = set()
    async for execution in gantry.client.list_workflows(query):
        stage = execution.id.split("/")[2] if execution.id.count("/") >= 3 else ""
        if every or stage in stages:
            found.add(execution.id)
    for stage in stages:
        lock = await gantry.stage_lock(project, stage)
        if lock is not None:
            found.update([lock.holder] if lock.holder else [])
            found.update(lock.queue)
    running = []
    for workflow_id in sorted(found):  # a reservation whose promotion never started is not running
        try:
            status = (await gantry.client.get_workflow_handle(workflow_id).describe()).status
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        if status is not None and status.name == "RUNNING":
            running.append(workflow_id)
    return running


async def _abort_all(gantry: Gantry, workflow_ids: list[str]) -> None:
    async def one(workflow_id: str) -> None:
        try:
            await gantry.abort_promotion(workflow_id, reason="its stage is being deleted (--force)")
        except GantryError:  # it ended meanwhile
            return
        try:
            await asyncio.wait_for(gantry.promotion_result(workflow_id), ABORT_WAIT)
        except asyncio.TimeoutError:
            raise GantryError(f"promotion {workflow_id} did not end within {ABORT_WAIT:.0f}s of its abort") from None

    await asyncio.gather(*(one(w) for w in workflow_ids))


async def _check_promotions(
    gantry: Gantry, project: str, stages: list[str], *, force: bool, dry_run: bool, hint: str, every: bool = False
) -> list[str]:
    """Refuse (or with force, abort) the promotions running on Stages that go; lines to print."""
    running = await running_promotions(gantry, project, stages, every=every)
    if not running:
        return []
    names = ", ".join(w.removeprefix(f"promotion/{project}/") for w in running)
    if not force:
        raise GantryError(f"project {project}: promotions are running on stages being deleted: {names} ({hint})")
    if dry_run:
        return [f"promotion/{w.rsplit('/', 1)[-1]} would be aborted" for w in running]
    await _abort_all(gantry, running)
    return [f"promotion/{w.rsplit('/', 1)[-1]} aborted" for w in running]


async def _manifests(gantry: Gantry, project: str) -> ManifestSet:
    return ManifestSet.model_validate(await gantry.manifests(project))


async def _plan(gantry: Gantry, workflow_id: str, request: DeleteRequest) -> list[str]:
    """The workflow's own plan (its `delete_plan` query): the lines a dry run prints, or its refusal."""
    handle = gantry.client.get_workflow_handle(workflow_id)
    try:
        return (await handle.query("delete_plan", request, result_type=DeleteResult)).results
    except WorkflowQueryFailedError as err:
        raise GantryError(err.message) from None
    except RPCError as err:
        raise GantryError(_rpc_message(err, workflow_id)) from None


async def _update(gantry: Gantry, workflow_id: str, request: DeleteRequest) -> list[str]:
    handle = gantry.client.get_workflow_handle(workflow_id)
    try:
        result = await retry_unprocessed(lambda: handle.execute_update("delete", request, result_type=DeleteResult))
    except WorkflowUpdateFailedError as err:
        raise GantryError(cause_message(err)) from None
    except RPCError as err:
        raise GantryError(_rpc_message(err, workflow_id)) from None
    return result.results


def _rpc_message(err: RPCError, workflow_id: str) -> str:
    if err.status == RPCStatusCode.NOT_FOUND:
        return "nothing cluster-scoped is applied" if workflow_id == CLUSTER_WORKFLOW_ID else f"{workflow_id} does not exist"
    return err.message


async def _cluster_referrers(
    gantry: Gantry, targets: list[ObjectRef], by_scope: dict[str | None, list[ObjectRef]]
) -> list[str]:
    """References from any project to the cluster-scoped targets, leaving out what the same
    command deletes."""
    gone = {(r.kind, r.name) for r in targets}
    found = []
    # the projects this task queue serves (another queue's may have no worker to answer)
    query = f"WorkflowType='ProjectWorkflow' AND ExecutionStatus='Running' AND TaskQueue={query_literal(gantry.task_queue)}"
    ids = {e.id async for e in gantry.client.list_workflows(query)}
    for project in sorted(i.removeprefix("project/") for i in ids if i.startswith("project/")):
        manifests = await _manifests(gantry, project)
        plan = plan_deletion(manifests, project, by_scope.get(project, []), ignore_missing=True)
        if plan.project:
            continue
        left = without(manifests, project, plan).projects.get(project)
        found += blocking(left, gone, project)
    return found


async def delete(
    gantry: Gantry,
    by_scope: dict[str | None, list[ObjectRef]],
    *,
    force: bool = False,
    dry_run: bool = False,
    ignore_not_found: bool = False,
) -> list[str]:
    """Delete objects, by project (None: the cluster scope); projects first, so that the
    cluster-scoped tasks and templates they used may go in the same command. Every scope's
    workflow plans (and may refuse) before any promotion is aborted or anything deleted."""
    planned: list[tuple[str | None, DeleteRequest, list[str]]] = []
    for project, targets in sorted(by_scope.items(), key=lambda item: item[0] is None):
        if project is None:
            referrers = await _cluster_referrers(gantry, targets, by_scope)
            if referrers:
                raise GantryError("; ".join(f"{r} (delete it in the same command, or change it first)" for r in referrers))
        elif not await gantry.project_exists(project):
            if ignore_not_found:
                continue
            raise GantryError(f"project {project!r} does not exist")
        request = DeleteRequest(targets=targets, ignore_not_found=ignore_not_found)
        planned.append((project, request, await _plan(gantry, _workflow_id(project), request)))
    lines: list[str] = []
    for project, request, _ in planned:
        if project is None:
            continue
        plan = plan_deletion(await _manifests(gantry, project), project, request.targets, ignore_missing=True)
        if plan.project or plan.names("Stage"):
            hint = "--force aborts them, then deletes"
            lines += await _check_promotions(
                gantry, project, plan.names("Stage"), force=force, dry_run=dry_run, hint=hint, every=plan.project
            )
    for project, request, dry in planned:
        if dry_run:
            lines += dry
        else:
            lines += await _update(gantry, _workflow_id(project), request)
    return lines


def _workflow_id(project: str | None) -> str:
    return CLUSTER_WORKFLOW_ID if project is None else project_workflow_id(project)


async def check_prune(gantry: Gantry, documents_by_scope: dict[str | None, list[dict[str, Any]]]) -> None:
    """`apply --prune` refuses to prune a Stage a promotion runs on (naming it), before applying."""
    for project, documents in documents_by_scope.items():
        if project is None or not await gantry.project_exists(project):
            continue
        manifests = await _manifests(gantry, project)
        kept = [_ref(d) for d in documents]
        stages = [r.name for r in prune_targets(manifests.projects.get(project), project, kept) if r.kind == "Stage"]
        if stages:
            await _check_promotions(
                gantry, project, stages, force=False, dry_run=True,
                hint="wait for them, or `gantry delete stage NAME -p PROJECT --force` first",
            )  # fmt: skip


def _ref(document: dict[str, Any]) -> ObjectRef:
    data = document.get("data") or {}
    return ObjectRef(kind=str(data.get("kind") or ""), name=str((data.get("metadata") or {}).get("name") or ""))
