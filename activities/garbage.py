"""Garbage collection of Freight (Kargo's `pkg/garbage` rule, `pipeline/garbage.py`), run by
each WarehouseWorkflow for its own Freight at most once an hour.

Collected Freight ends its FreightWorkflow (`collect`), which completes with its last document
as its result: `temporal workflow show -w freight/<project>/<name>` reads it for as long as
the namespace retains closed workflows. Its alias is free again.

Settings: the worker's `GANTRY_GC_MAX_RETAINED_FREIGHT`, `GANTRY_GC_MIN_FREIGHT_DELETION_AGE`
(a Go duration), `GANTRY_GC_MAX_RETAINED_PROMOTIONS`, `GANTRY_GC_MIN_PROMOTION_DELETION_AGE`,
then a project's ProjectConfig `spec.garbageCollection` on top.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightStore, query_literal
from pipeline.durations import parse_duration
from pipeline.garbage import GarbageSettings, freight_to_collect
from pipeline.manifests import ManifestSet
from workflows import search_attributes as sa
from workflows.ids import project_workflow_id, stage_workflow_id
from workflows.messages import GarbageReport, GarbageRequest, StageHistory


def worker_settings(env: dict[str, str] | None = None) -> GarbageSettings:
    """The worker's defaults (Kargo's unless the environment says otherwise)."""
    env = dict(os.environ) if env is None else env
    base = GarbageSettings()

    def number(name: str, default: int) -> int:
        text = env.get(name, "").strip()
        if not text:
            return default
        value = int(text)
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return value

    def age(name: str, default: timedelta) -> timedelta:
        text = env.get(name, "").strip()
        return parse_duration(text) if text else default

    return GarbageSettings(
        max_retained_freight=number("GANTRY_GC_MAX_RETAINED_FREIGHT", base.max_retained_freight),
        min_freight_deletion_age=age("GANTRY_GC_MIN_FREIGHT_DELETION_AGE", base.min_freight_deletion_age),
        max_retained_promotions=number("GANTRY_GC_MAX_RETAINED_PROMOTIONS", base.max_retained_promotions),
        min_promotion_deletion_age=age("GANTRY_GC_MIN_PROMOTION_DELETION_AGE", base.min_promotion_deletion_age),
    )


async def read_manifests(client: Client, project: str) -> ManifestSet:
    return ManifestSet.model_validate(await client.get_workflow_handle(project_workflow_id(project)).query("manifests"))


async def project_settings(client: Client, project: str) -> GarbageSettings:
    """The worker's settings with the project's ProjectConfig `spec.garbageCollection` on top."""
    return settings_for(await read_manifests(client, project), project)


def settings_for(manifests: ManifestSet, project: str) -> GarbageSettings:
    found = manifests.projects.get(project)
    config = found.project_config if found else None
    spec = config.spec.garbage_collection if config else None
    return worker_settings().overridden(spec.model_dump(by_alias=True, exclude_none=True) if spec else None)


class GarbageActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.store = FreightStore(client, task_queue)

    async def _in_use(self, project: str, manifests: ManifestSet) -> set[str]:
        """Freight a Stage holds or has in its history window, and the Freight of running promotions."""
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        names = set(await handle.query("freight_in_use"))
        found = manifests.projects.get(project)
        for stage in sorted(found.stages) if found else []:
            try:
                history = await self.client.get_workflow_handle(stage_workflow_id(project, stage)).query(
                    "history", result_type=StageHistory
                )
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            names.update(visit.freight for visit in history.visits)
        query = f"WorkflowType='PromotionWorkflow' AND ExecutionStatus='Running' AND GantryProject={query_literal(project)}"
        async for execution in self.client.list_workflows(query):
            freight = execution.typed_search_attributes.get(sa.FREIGHT)
            if freight:
                names.add(freight)
        return names

    async def _retire_unknown_stages(self, project: str, manifests: ManifestSet) -> list[str]:
        """End the Stage workflows of Stages that are not applied (older clients made one for
        any Stage a promotion named); each ends only when idle."""
        applied = manifests.projects[project].stages if project in manifests.projects else {}
        prefix = stage_workflow_id(project, "")
        query = f"WorkflowType='StageWorkflow' AND ExecutionStatus='Running' AND WorkflowId STARTS_WITH {query_literal(prefix)}"
        retired = []
        try:
            async for execution in self.client.list_workflows(query):
                stage = execution.id.removeprefix(prefix)
                if stage not in applied:
                    await self.client.get_workflow_handle(execution.id).signal("retire", f"stage {stage!r} is not applied in project {project}")
                    retired.append(stage)
        except RPCError as err:
            activity.logger.warning("could not look for Stage workflows of %s: %s", project, err.message)
        return retired

    @activity.defn(name="collect_garbage")
    async def collect_garbage(self, request: GarbageRequest) -> GarbageReport:
        try:
            manifests = await read_manifests(self.client, request.project)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return GarbageReport(message="the project is gone")
            raise
        await self._retire_unknown_stages(request.project, manifests)
        settings = settings_for(manifests, request.project)
        now = datetime.now(timezone.utc)
        oldest_kept = now - settings.min_freight_deletion_age
        # the usual case, cheaply: nothing is old enough to go, however much there is
        old = self.store.query(request.project, request.warehouse)
        old += f" AND GantryDiscoveredAt < {query_literal(oldest_kept.isoformat())}"
        try:
            if (await self.client.count_workflows(old)).count == 0:
                return GarbageReport(message="no freight is old enough")
        except RPCError as err:
            if err.status == RPCStatusCode.UNIMPLEMENTED:  # a server without visibility (test server)
                return GarbageReport(message="the server cannot list workflows: nothing collected")
            raise
        activity.heartbeat("listing")
        freight = await self.store.all(request.project, request.warehouse)
        activity.heartbeat("listed")
        if len(freight) <= settings.max_retained_freight:
            return GarbageReport(kept=len(freight))
        names = freight_to_collect(freight, await self._in_use(request.project, manifests), now, settings)
        for name in names:
            await self.store.collect(request.project, name)
            activity.heartbeat(name)
        return GarbageReport(collected=names, kept=len(freight) - len(names))

