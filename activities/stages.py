"""Activities for the stage lock and auto-promotion: what workflows cannot do themselves
(start a workflow by signal-with-start, describe another workflow, read the catalog)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightStore
from activities.lifetimes import first_started, started_at
from activities.starting import start_promotion
from activities.updates import turned_away
from pipeline.auto_promotion import (
    DownstreamStage,
    auto_promotion_enabled,
    match_upstream_skip,
    life_start,
    newer_current_skip,
    renamed_for_new_life,
    stages_to_tell,
)
from pipeline.manifests import ManifestSet
from workflows.ids import project_workflow_id, promotion_workflow_id, stage_workflow_id
from workflows.messages import (
    AutoPromotion,
    AutoPromotionQuery,
    AutoPromotionState,
    DownstreamRequest,
    FreightVerified,
    PromotionRequest,
    StageLockRequest,
    StageView,
    UpstreamVerified,
)
from workflows.stage import ask_stage_lock, signal_stage


def activity_now() -> datetime:
    """Activities may read the clock (workflows take workflow.now())."""
    return datetime.now(timezone.utc)


class StageActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.task_queue = task_queue
        self.store = FreightStore(client, task_queue)

    async def _signal_stage(self, project: str, stage: str, signal: str, arg: Any) -> None:
        await signal_stage(self.client, self.task_queue, project, stage, signal, arg)

    @activity.defn(name="request_stage_lock")
    async def request_stage_lock(self, request: StageLockRequest) -> bool | None:
        """Ask the Stage for its lock. With `answer`, by its `acquire_now` update: true when
        the promotion holds the lock on return, false when it waits for `lock_granted` (also
        when the Stage runs code from before that update: asked by signal then). Without
        `answer` (older promotions), by the `acquire` signal, and None."""
        if request.answer:
            try:
                return await ask_stage_lock(self.client, self.task_queue, request.project, request.stage, request.request)
            except WorkflowUpdateFailedError:
                pass  # no such update in the Stage's code (or it continued as new): the signal
            except RPCError as err:
                if not turned_away(err):  # 10 updates in flight, continue-as-new: the signal
                    raise
        await self._signal_stage(request.project, request.stage, "acquire", request.request)
        return False if request.answer else None

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

    async def _ask_project(self, project: str, query: str, arg: BaseModel, result_type: type) -> Any:
        """A narrow query of the project, or None when its workflow runs code from before
        that query (a rolling upgrade): the caller then reads the manifests."""
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        try:
            return await handle.query(query, arg, result_type=result_type)
        except WorkflowQueryFailedError as err:
            if "not found" in str(err) and query in str(err):
                return None
            raise

    async def _downstream(self, project: str, origin: str, upstream: str) -> list[DownstreamStage]:
        request = DownstreamRequest(origin=origin, upstream=upstream)
        told = await self._ask_project(project, "downstream", request, list[DownstreamStage])
        if told is None:
            _, manifests = await self._manifests(project)
            told = stages_to_tell(manifests, origin, upstream) if manifests else []
        return told

    @activity.defn(name="notify_downstream")
    async def notify_downstream(self, event: FreightVerified) -> list[str]:
        """Tell every downstream Stage with auto-promotion on that Freight was verified here,
        and when its soak there will end. `stage` empty: new Freight, for direct Stages."""
        freight = await self.store.find(event.project, event.freight)
        origin = ((freight or {}).get("origin") or {}).get("name")
        if not origin:
            return []
        told = []
        for downstream in await self._downstream(event.project, origin, event.stage):
            await self._signal_stage(
                event.project,
                downstream.stage,
                "upstream_verified",
                UpstreamVerified(
                    freight=event.freight,
                    upstream=event.stage,
                    verified_at=event.verified_at,
                    soak_until=event.verified_at + downstream.soak,
                    match_upstream=downstream.match_upstream,
                ),
            )
            told.append(downstream.stage)
        return told

    async def _auto_promotion(self, project: str, stage: str, origin: str) -> AutoPromotionState:
        query = AutoPromotionQuery(stage=stage, origin=origin)
        state = await self._ask_project(project, "auto_promotion", query, AutoPromotionState)
        if state is None:
            _, manifests = await self._manifests(project)
            found = manifests.stages.get(stage) if manifests else None
            if found is None:
                return AutoPromotionState(exists=False)
            handle = self.client.get_workflow_handle(project_workflow_id(project))
            held = await handle.query("auto_promotion_held", {"stage": stage, "origin": origin})
            state = AutoPromotionState(
                exists=True, enabled=auto_promotion_enabled(manifests.project_config, found), held=bool(held)
            )
        return state

    async def _current(self, project: str, stage: str) -> dict[str, Any] | None:
        """The Freight the Stage has now, or None."""
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        views = await handle.query("stages", result_type=list[StageView])
        name = next((v.freight for v in views if v.name == stage), None)
        return await self.store.find(project, name) if name else None

    @activity.defn(name="auto_promote")
    async def auto_promote(self, request: AutoPromotion) -> str:
        """Start the promotion auto-promotion asks for; one per Freight and Stage (the id
        says so, so a retried activity cannot start two)."""
        freight = await self.store.find(request.project, request.freight)
        origin = ((freight or {}).get("origin") or {}).get("name", "")
        state = await self._auto_promotion(request.project, request.stage, origin)
        if not (state.exists and state.enabled):
            return "auto-promotion is off"
        if state.held:
            return f"auto-promotion of {origin} in {request.stage} is on hold (a user promoted other Freight)"
        name = f"{request.stage}.auto.{request.freight[:12]}"
        if request.match_upstream:
            skip = match_upstream_skip(freight, request.stage, request.upstream)
            if skip:
                return skip
            if request.verified_at is not None:  # following the upstream back is a promotion of its own
                name += f".{int(request.verified_at.timestamp())}"
        else:
            skip = newer_current_skip(freight, await self._current(request.project, request.stage), request.stage)
            if skip:
                return skip
        promotion = PromotionRequest(
            project=request.project, stage=request.stage, freight=request.freight, actor="auto-promotion", auto=True
        )
        if await self._start_once(promotion, name, freight):
            return promotion_workflow_id(request.project, request.stage, name)
        # that name was taken: by this Stage's own promotion of this Freight (a retry, a
        # repeated refresh), or by one of a deleted Stage or collected Freight of the same names
        earlier = await first_started(self.client, promotion_workflow_id(request.project, request.stage, name))
        begun = life_start(await self._stage_started(request.project, request.stage), freight, activity_now())
        renamed = renamed_for_new_life(name, earlier, begun)
        if renamed:
            await self._start_once(promotion, renamed, freight)
            name = renamed
        return promotion_workflow_id(request.project, request.stage, name)

    async def _start_once(self, promotion: PromotionRequest, name: str, freight: dict[str, Any] | None) -> bool:
        """Start the promotion unless one of that id ever ran (False then)."""
        try:
            await start_promotion(
                self.client, self.task_queue, promotion, name, freight or {"name": promotion.freight},
                reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )  # fmt: skip
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def _stage_started(self, project: str, stage: str) -> datetime:
        """When the Stage's workflow first started; its current run's start when the first
        is past retention (this activity runs in it, so it runs)."""
        workflow_id = stage_workflow_id(project, stage)
        return await first_started(self.client, workflow_id) or await started_at(self.client, workflow_id) or activity_now()
