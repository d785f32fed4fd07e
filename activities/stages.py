"""Activities for the stage lock and auto-promotion: what workflows cannot do themselves
(start a workflow by signal-with-start, describe another workflow, read the catalog)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightStore
from activities.starting import start_promotion
from pipeline.auto_promotion import auto_promotion_enabled
from pipeline.durations import parse_duration
from pipeline.manifests import ManifestSet
from workflows.ids import project_workflow_id, promotion_workflow_id
from workflows.messages import AutoPromotion, FreightVerified, PromotionRequest, StageLockRequest, UpstreamVerified
from workflows.stage import signal_stage


class StageActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.task_queue = task_queue
        self.store = FreightStore(client, task_queue)

    async def _signal_stage(self, project: str, stage: str, signal: str, arg: Any) -> None:
        await signal_stage(self.client, self.task_queue, project, stage, signal, arg)

    @activity.defn(name="request_stage_lock")
    async def request_stage_lock(self, request: StageLockRequest) -> None:
        await self._signal_stage(request.project, request.stage, "acquire", request.request)

    @activity.defn(name="workflow_is_running")
    async def workflow_is_running(self, workflow_id: str) -> bool:
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    async def _manifests(self, project: str) -> tuple[ManifestSet, dict[str, Any]]:
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        manifests = ManifestSet.model_validate(await handle.query("manifests"))
        return manifests, manifests.projects.get(project)

    @activity.defn(name="notify_downstream")
    async def notify_downstream(self, event: FreightVerified) -> list[str]:
        """Tell every downstream Stage with auto-promotion on that Freight was verified here,
        and when its soak there will end. `stage` empty: new Freight, for direct Stages."""
        _, project = await self._manifests(event.project)
        if project is None:
            return []
        freight = await self.store.find(event.project, event.freight)
        origin = (freight or {}).get("origin") or {}
        told = []
        for name, stage in sorted(project.stages.items()):
            if not auto_promotion_enabled(project.project_config, stage):
                continue
            for request in stage.spec.requested_freight:
                if request.origin.name != origin.get("name"):
                    continue
                if event.stage == "" and not request.sources.direct:
                    continue  # new Freight: only Stages that take it directly
                if event.stage != "" and event.stage not in request.sources.stages:
                    continue
                soak = parse_duration(request.sources.required_soak_time) if request.sources.required_soak_time else timedelta(0)
                await self._signal_stage(
                    event.project,
                    name,
                    "upstream_verified",
                    UpstreamVerified(
                        freight=event.freight,
                        upstream=event.stage,
                        verified_at=event.verified_at,
                        soak_until=event.verified_at + soak,
                    ),
                )
                told.append(name)
        return told

    @activity.defn(name="auto_promote")
    async def auto_promote(self, request: AutoPromotion) -> str:
        """Start the promotion auto-promotion asks for; one per Freight and Stage (the id
        says so, so a retried activity cannot start two)."""
        _, project = await self._manifests(request.project)
        stage = project.stages.get(request.stage) if project else None
        if stage is None or not auto_promotion_enabled(project.project_config, stage):
            return "auto-promotion is off"
        handle = self.client.get_workflow_handle(project_workflow_id(request.project))
        freight = await self.store.find(request.project, request.freight)
        origin = ((freight or {}).get("origin") or {}).get("name", "")
        if await handle.query("auto_promotion_held", {"stage": request.stage, "origin": origin}):
            return f"auto-promotion of {origin} in {request.stage} is on hold (a user promoted other Freight)"
        name = f"{request.stage}.auto.{request.freight[:12]}"
        workflow_id = promotion_workflow_id(request.project, request.stage, name)
        promotion = PromotionRequest(
            project=request.project, stage=request.stage, freight=request.freight, actor="auto-promotion", auto=True
        )
        try:
            await start_promotion(
                self.client, self.task_queue, promotion, name, freight or {"name": request.freight},
                reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )  # fmt: skip
        except WorkflowAlreadyStartedError:
            pass
        return workflow_id
