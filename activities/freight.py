"""Activities on Freight for workflows (a workflow cannot start, query or update another
workflow and wait for the answer; an activity can): the project's status changes after a
promotion and the move of a catalog of old into FreightWorkflows. The rules are the
store's (`activities/freight_store.py`)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.freight_store import FreightRefused, FreightStore
from pipeline.freight import FreightChange, change_shows, independent, names_stage
from workflows.messages import FreightChangeRequest, FreightImport, NewFreight, ProjectRef, StageRef


#: a Freight's whole name (SHA-1): its workflow id, no look-up by alias or prefix
FULL_NAME = 40


class FreightActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.store = FreightStore(client, task_queue)

    @activity.defn(name="change_freight")
    async def change_freight(self, request: FreightChangeRequest) -> dict | None:
        """The Freight after the changes; None when it is gone (garbage-collected) and the
        caller said that is fine. Each change is idempotent, so a retry does no harm."""
        if independent(request.changes) and len(request.freight) == FULL_NAME:
            try:  # a promotion's entered + verified: sent at once, the Freight found by its workflow id
                results = await asyncio.gather(*(self.store.record(request.project, request.freight, c) for c in request.changes))
                shown = [r for r in results if all(change_shows(r, c) for c in request.changes)]
                return shown[0] if shown else await self.store.by_name(request.project, request.freight)
            except ValueError:
                pass  # one at a time below, which says why (or that the Freight is gone)
        record = None
        for change in request.changes:
            try:
                record = await self.store.change(request.project, request.freight, change)
            except ValueError as err:  # FreightRefused, or an alias that is not valid
                if request.missing_ok and await self.store.get(request.project, request.freight) is None:
                    activity.logger.warning("freight %s is gone; %s not recorded", request.freight, change.kind)
                    return None
                raise ApplicationError(str(err), type="FreightRefused", non_retryable=True) from None
        return record

    @activity.defn(name="store_freight")
    async def store_freight(self, request: NewFreight) -> dict:
        """The project's `create_freight` update, made a FreightWorkflow (the update's
        validator checked the origin)."""
        try:
            return await self.store.create(request.project, request.freight, datetime.now(timezone.utc), check=False)
        except ValueError as err:
            raise ApplicationError(str(err), type="FreightRefused", non_retryable=True) from None

    @activity.defn(name="import_freight")
    async def import_freight(self, request: FreightImport) -> list[str]:
        return await self.store.import_records(request.project, request.records)

    @activity.defn(name="end_project_freight")
    async def end_project_freight(self, request: ProjectRef) -> int:
        """A deleted project's FreightWorkflows end as garbage collection ends them (aliases
        freed); how many ended. Idempotent: a retry lists only those still running."""
        ended = 0
        async for execution in self.client.list_workflows(FreightStore.query(request.project)):
            try:
                await self.store.collect(request.project, execution.id.rsplit("/", 1)[-1])
                ended += 1
            except FreightRefused:  # ended meanwhile
                pass
            activity.heartbeat(ended)
        return ended

    @activity.defn(name="forget_stage_in_freight")
    async def forget_stage_in_freight(self, request: StageRef) -> int:
        """A deleted Stage leaves every Freight of its project that names it (currentlyIn,
        verifiedIn, approvedFor), as Kargo's Stage finalizer clears them; how many changed."""
        changed = 0
        for record in await self.store.all(request.project):
            if names_stage(record, request.stage) and record["name"]:
                try:
                    forget = FreightChange(kind="stage_deleted", stage=request.stage)
                    await self.store.change(request.project, record["name"], forget)
                    changed += 1
                except FreightRefused:  # collected meanwhile, or a Freight of the project's catalog of old
                    pass
            activity.heartbeat(changed)
        return changed
