"""Reads from and writes to the project catalog (the ProjectWorkflow) for workflows.

A workflow can neither query another workflow nor wait for another workflow's update
result, so a promotion goes through these activities: once at its start to read its
Stage, Freight and tasks, and for the steps that change the catalog (set-freight-alias,
set-metadata).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightStore
from activities.updates import retry_unprocessed
from pipeline.auto_promotion import is_candidate
from pipeline.expressions.data import PromotionData, template_lookups
from pipeline.manifests import ClusterPromotionTask, PromotionStep, PromotionTask, Stage
from pipeline.promotion_plan import PlanError, plan_steps
from workflows.failures import cause_message
from workflows.ids import CLUSTER_WORKFLOW_ID, project_workflow_id
from workflows.messages import PromotionContext, PromotionContextRequest


class CatalogChange(BaseModel):
    """A change a step asks of the catalog: an alias, or metadata of Stages and Freight."""

    project: str
    kind: str  # "freight-alias" | "metadata"
    data: dict[str, Any]


#: Freight other than its own a promotion's templates may read (freightStatus("name")...)
MAX_FREIGHT_READ = 20
#: what the data functions' answers may weigh in a promotion's context (its history keeps
#: payloads under 512 KB, and the context carries the Stage and its tasks too)
MAX_DATA_BYTES = 256 * 1024


def _as_template(condition: str | None) -> str:
    """A step's `if` as a template (it may be written without `${{ }}`)."""
    if not condition or "${{" in condition or "${%" in condition:
        return condition or ""
    return "${{ " + condition + " }}"


def _not_found(message: str) -> ApplicationError:
    return ApplicationError(message, type="NotFound", non_retryable=True)


def _forget(task: asyncio.Future[Any] | None) -> None:
    """A side question whose answer is no longer needed (the main one failed)."""
    if task is not None:
        task.cancel()


class CatalogActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.store = FreightStore(client, task_queue)

    async def _cluster(self, kind: str) -> dict[str, Any]:
        """Cluster-scoped manifests of one kind ("cluster_promotion_tasks" / "cluster_analysis_templates")."""
        handle = self.client.get_workflow_handle(CLUSTER_WORKFLOW_ID)
        try:
            manifests = await handle.query("manifests")
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return {}
            raise
        return (manifests or {}).get(kind) or {}

    @activity.defn(name="load_promotion_context")
    async def load_promotion_context(self, request: PromotionContextRequest) -> PromotionContext:
        handle = self.client.get_workflow_handle(project_workflow_id(request.project))
        record = await self.store.get(request.project, request.freight)
        if record is not None:
            request = request.model_copy(update={"record": record})
        # whether newer Freight exists (a visibility list) is asked while the project answers
        newer_task = None
        if record is not None and not request.holds_unchanged:
            newer_task = asyncio.ensure_future(self.store.newer_exists(request.project, record))
        try:
            context = await handle.query("promotion_context", request, result_type=PromotionContext)
        except WorkflowQueryFailedError as err:
            _forget(newer_task)
            raise _not_found(str(err)) from err
        except RPCError as err:
            _forget(newer_task)
            if err.status == RPCStatusCode.NOT_FOUND:
                raise _not_found(f"project {request.project!r} does not exist (apply its manifests first)") from err
            raise
        steps = [PromotionStep.model_validate(s) for s in context.template_steps]
        cluster: dict[str, Any] = {}
        if any(s.task and s.task.kind == "ClusterPromotionTask" for s in steps):
            cluster = await self._cluster("cluster_promotion_tasks")
        verification = (context.stage.get("spec") or {}).get("verification") or {}
        wanted = [r for r in verification.get("analysisTemplates") or [] if r.get("kind") == "ClusterAnalysisTemplate"]
        if wanted:
            templates = await self._cluster("cluster_analysis_templates")
            for ref in wanted:
                if ref.get("name") in templates:
                    context.analysis_templates[f"ClusterAnalysisTemplate/{ref['name']}"] = templates[ref["name"]]

        def find_task(name: str, kind: str) -> PromotionTask | ClusterPromotionTask | None:
            if kind == "ClusterPromotionTask":
                doc = cluster.get(name)
                return ClusterPromotionTask.model_validate(doc) if doc else None
            doc = context.tasks.get(f"PromotionTask/{name}")
            return PromotionTask.model_validate(doc) if doc else None

        if record is not None:  # a catalog of old answers this itself (None: it knows)
            context.stored = True
            if newer_task is not None:
                newer = await newer_task
                if newer is not None and context.stage:  # "is the candidate" (MatchUpstream: what the upstream has)
                    context.newest_of_origin = is_candidate(Stage.model_validate(context.stage), record, newer)
        promotion_vars = {v.get("name") for v in context.stage_vars + context.template_vars}
        try:
            context.steps = plan_steps(steps, find_task, promotion_vars=promotion_vars)
        except PlanError as err:
            raise ApplicationError(str(err), type="PlanError", non_retryable=True) from err
        context.data = await self._read_data(request, context)
        return context

    async def _read_data(self, request: PromotionContextRequest, context: PromotionContext) -> PromotionData:
        """What the templates read with stageMetadata(), freightStatus(), configMap() & co.:
        only that rides in the promotion's history."""
        own = str(context.freight.get("name") or request.freight)
        templates = [
            context.stage_vars,
            context.template_vars,
            [{"if": _as_template(s.if_), "vars": s.vars, "config": s.config} for s in context.steps],
            ((context.stage.get("spec") or {}).get("verification") or {}).get("args") or [],
        ]
        known = {"ctx.stage": request.stage, "ctx.project": request.project, "ctx.targetFreight.name": own}
        lookups = template_lookups(templates, known)
        data = context.data.selected(lookups)
        if lookups.names["sharedConfigMap"] or "sharedConfigMap" in lookups.computed:
            shared = await self._cluster("shared_config_maps")
            everything = PromotionData(shared_config_maps={n: dict(d.get("data") or {}) for n, d in shared.items()})
            data.shared_config_maps = everything.selected(lookups).shared_config_maps
        data.freight_status[own] = dict(context.freight.get("status") or {})
        for name in sorted(lookups.names["freight"] - {own})[:MAX_FREIGHT_READ]:
            record = await self.store.by_name(request.project, name)
            if record is not None:
                data.freight_status[name] = dict(record.get("status") or {})
        refusal = data.oversize(lookups, MAX_DATA_BYTES)
        if refusal:
            raise ApplicationError(f"promotion to {request.stage}: {refusal}", type="PlanError", non_retryable=True)
        return data

    @activity.defn(name="change_catalog")
    async def change_catalog(self, change: CatalogChange) -> dict[str, Any]:
        """Apply a step's catalog change through the project's update (validated there)."""
        handle = self.client.get_workflow_handle(project_workflow_id(change.project))
        update = {"freight-alias": "set_freight_alias", "metadata": "set_metadata"}[change.kind]
        try:
            return await retry_unprocessed(lambda: handle.execute_update(update, change.data, result_type=dict))
        except WorkflowUpdateFailedError as err:
            raise ApplicationError(cause_message(err), type="StepFailed", non_retryable=True) from err
