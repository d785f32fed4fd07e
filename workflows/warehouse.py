"""WarehouseWorkflow: discover artifacts on a durable timer and turn them into Freight.

One long-lived workflow per Warehouse (id `warehouse/<project>/<warehouse>`), woken by the
project when the Warehouse is applied, by `gantry refresh warehouse W` (signal `wake`, or
update `refresh` that answers after a pass that started after it was asked), and by its
own timer every `spec.interval` (default 5m).

A pass reads the Warehouse as applied now, runs one discovery activity per subscription
(in parallel), and with `freightCreationPolicy: Automatic` offers the newest combination
to the project's Freight catalog, unless `freightCreationCriteria.expression` says no. The
catalog names Freight by the SHA-1 of its artifacts, so a pass that finds nothing new, or
two passes racing, create nothing twice. A failing subscription (registry down, bad
credentials) is reported in the status and tried again at the next interval; the last
good discovery and every Freight already made are kept. The history stays bounded by
continue-as-new, which carries the state.

A bug in this workflow's code (see `workflows/bugs.py`) never stops it: a pass that hits one
(a Freight rule raising on odd discovery results, say) is a failed pass like any other, its
status error naming the bug, and the next pass comes at the interval; `refresh` fails with an
`InternalError` naming a bug of its own, and a `wake` signal that hits one is dropped.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import metrics
    from workflows import retries
    from contracts.discovery import ACTIVITY_NAMES
    from pipeline.discovery.freight import (
        NoCandidate,
        check_criteria,
        freight_candidate,
    )
    from pipeline.durations import parse_duration
    from pipeline.freight import freight_name
    from workflows import continuation, patches
    from workflows.bugs import LONG_LIVED_PATCH, describe, guard_signal, guard_update, handles, log_bug
    from workflows.failures import cause_message
    from workflows.ids import warehouse_workflow_id
    from workflows.messages import DiscoveryRequest, GarbageRequest, NewFreight, WarehouseRef

DEFAULT_MAX_HISTORY = 2_000
DISCOVERY_TIMEOUT = timedelta(minutes=10)
#: reading the Warehouse and creating Freight take milliseconds; a worker lost inside one
#: holds the pass no longer than this before the attempt is retried (each is idempotent)
CATALOG_TIMEOUT = timedelta(seconds=10)
#: discovery heartbeats every 2 s (activities/heartbeat.py): a worker lost mid-way is seen
#: within this, as a step's is
DISCOVERY_HEARTBEAT = timedelta(seconds=10)
#: how often a Warehouse collects its old Freight (Kargo's collector runs on a schedule too)
GARBAGE_EVERY = timedelta(hours=1)


class WarehouseState(BaseModel):
    #: the last good pass, in Kargo's DiscoveredArtifacts shape (with discoveredAt)
    discovered: dict[str, Any] | None = None
    last_pass_at: datetime | None = None
    next_pass_at: datetime | None = None
    #: why the last pass failed (a subscription could not be read); empty after a good pass
    error: str = ""
    #: why the last good pass made no Freight (Manual policy, criteria, nothing found)
    message: str = ""
    last_freight: str | None = None
    last_freight_alias: str | None = None
    passes: int = 0
    failed_passes: int = 0
    #: when this Warehouse's old Freight was last collected
    garbage_collected_at: datetime | None = None


class WarehouseInput(BaseModel):
    project: str
    warehouse: str
    state: WarehouseState | None = None
    max_history: int = DEFAULT_MAX_HISTORY


class WarehouseStatus(WarehouseState):
    """What `gantry get warehouse` shows; the `status` query returns it."""

    project: str
    warehouse: str
    discovering: bool = False
    deleted: bool = False


async def wake_warehouse(client: Client, task_queue: str, project: str, warehouse: str) -> None:
    """Signal a WarehouseWorkflow to discover now, starting it if it does not run."""
    await client.start_workflow(
        "WarehouseWorkflow",
        WarehouseInput(project=project, warehouse=warehouse),
        id=warehouse_workflow_id(project, warehouse),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="wake",
        static_summary=f"Warehouse {warehouse} of project {project}",
    )


@workflow.defn(name="WarehouseWorkflow")
class WarehouseWorkflow:
    @workflow.init
    def __init__(self, input: WarehouseInput) -> None:
        self._input = input
        self._state = input.state or WarehouseState()
        self._wake = False
        #: wakes and refreshes taken by this run, to tell one that came while a pass read
        self._wakes = 0
        self._discovering = False
        self._deleted = False
        self._last_spec: dict[str, Any] = {}

    @workflow.signal(name="wake", description="Discover now (the Warehouse was applied, or a user asked)")
    @guard_signal
    def wake(self) -> None:
        self._wake = True
        self._wakes += 1

    @workflow.update(name="refresh", description="Discover now; answers with the status after that pass")
    @guard_update
    async def refresh(self) -> WarehouseStatus:
        # a pass already running may have read its registries before this request
        target = self._state.passes + (2 if self._discovering else 1)
        self._wake = True
        self._wakes += 1
        await workflow.wait_condition(lambda: self._state.passes >= target or self._deleted)
        return self.status()

    @workflow.query(name="status", description="The last discovery, its error, and the last Freight made")
    def status(self) -> WarehouseStatus:
        return WarehouseStatus(
            **self._state.model_dump(),
            project=self._input.project,
            warehouse=self._input.warehouse,
            discovering=self._discovering,
            deleted=self._deleted,
        )

    @workflow.run
    async def run(self, input: WarehouseInput) -> WarehouseStatus:
        while True:
            wakes = self._wakes
            try:
                warehouse = await self._load()
            except ActivityError as err:  # the project cannot be read now: a failed pass, not the end
                self._state.error = f"could not read the warehouse: {cause_message(err)}"
                self._state.failed_passes += 1
                self._state.passes += 1
                if self._should_continue_as_new():
                    break
                await self._sleep(self._last_spec)
                continue
            if warehouse is None:
                if self._wakes > wakes and workflow.patched(patches.WAREHOUSE_WAKE_DURING_LOAD.id):
                    continue  # woken while it read (an apply just then): read it again
                # the Warehouse was deleted: nothing more to watch
                self._deleted = True
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.status()
            self._wake = False
            self._last_spec = warehouse.get("spec") or {}
            try:
                await self._pass(warehouse)
            except Exception as err:  # a bug: this pass failed (it counted itself); the next one comes
                if not handles(err, LONG_LIVED_PATCH):
                    raise
                log_bug(f"warehouse {input.project}/{input.warehouse} (the pass failed)", err)
                self._state.error = f"internal error: {describe(err)} (a bug in Gantry; the next pass tries again)"
                self._state.failed_passes += 1
            await self._collect_garbage()
            if self._should_continue_as_new():
                break
            await self._sleep(self._last_spec)
        await continuation.hand_over(
            WarehouseInput(project=input.project, warehouse=input.warehouse, state=self._state, max_history=input.max_history)
        )

    async def _collect_garbage(self) -> None:
        """Kargo's garbage collection of this Warehouse's Freight (activities/garbage.py), at
        most every GARBAGE_EVERY; a failure is logged and waits for the next time."""
        now = workflow.now()
        due = self._state.garbage_collected_at is None or now - self._state.garbage_collected_at >= GARBAGE_EVERY
        if not due or not workflow.patched(patches.WAREHOUSE_COLLECTS_GARBAGE.id):
            return
        self._state.garbage_collected_at = now
        try:
            await workflow.execute_activity(
                "collect_garbage",
                GarbageRequest(project=self._input.project, warehouse=self._input.warehouse),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=10),  # a worker lost mid-way holds the next pass no longer
                retry_policy=retries.CHECK,
                summary=f"collect old freight of warehouse {self._input.warehouse}",
            )
        except ActivityError as err:
            workflow.logger.warning("garbage collection of %s failed: %s", self._input.warehouse, cause_message(err))

    def _should_continue_as_new(self) -> bool:
        return continuation.due(self._input.max_history)

    async def _sleep(self, spec: dict[str, Any]) -> None:
        interval = parse_duration(str(spec.get("interval") or "5m"))
        self._state.next_pass_at = workflow.now() + interval
        try:
            await workflow.wait_condition(
                lambda: self._wake, timeout=interval, timeout_summary=f"next discovery at {self._state.next_pass_at:%H:%M:%S} UTC"
            )
        except asyncio.TimeoutError:
            pass

    async def _load(self) -> dict[str, Any] | None:
        return await workflow.execute_activity(
            "load_warehouse",
            WarehouseRef(project=self._input.project, warehouse=self._input.warehouse),
            result_type=dict,
            start_to_close_timeout=CATALOG_TIMEOUT,
            retry_policy=retries.TELL,
            summary=f"read warehouse {self._input.warehouse}",
        )

    # -- one pass --------------------------------------------------------------------

    async def _pass(self, warehouse: dict[str, Any]) -> None:
        state = self._state
        spec = warehouse.get("spec") or {}
        self._discovering = True
        started = workflow.now()
        try:
            discovered, errors = await self._discover(spec.get("subscriptions") or [])
            state.last_pass_at = workflow.now()
            metrics.discovery_ended(self._input.project, self._input.warehouse, started, state.last_pass_at, bool(errors))
            if errors:
                state.error = "; ".join(errors)
                state.failed_passes += 1
                return
            state.error = ""
            state.discovered = discovered
            state.message = await self._make_freight(spec, discovered)
        finally:
            self._discovering = False
            state.passes += 1

    async def _discover(self, subscriptions: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
        """Every subscription at once; Kargo's DiscoveredArtifacts and the failures, by repository."""
        calls, kinds, errors = [], [], []
        for i, sub in enumerate(subscriptions):
            kind = next((k for k in ("image", "git", "chart") if sub.get(k)), None)
            if kind is None:
                errors.append(f"spec.subscriptions[{i}]: only image, git and chart subscriptions are supported")
                continue
            kinds.append((kind, sub[kind].get("repoURL", "")))
            calls.append(self._discover_one(kind, sub[kind]))
        results = await asyncio.gather(*calls, return_exceptions=True)
        discovered: dict[str, Any] = {"discoveredAt": workflow.now().isoformat(), "images": [], "git": [], "charts": []}
        key = {"image": "images", "git": "git", "chart": "charts"}
        for (kind, repo), result in zip(kinds, results):
            if isinstance(result, BaseException):
                errors.append(f"{kind} {repo}: {cause_message(result)}")
            else:
                discovered[key[kind]].append(result)
        return discovered, errors

    async def _discover_one(self, kind: str, subscription: dict[str, Any]) -> dict[str, Any]:
        return await workflow.execute_activity(
            ACTIVITY_NAMES[kind],
            DiscoveryRequest(project=self._input.project, warehouse=self._input.warehouse, kind=kind, subscription=subscription),  # type: ignore[arg-type]
            result_type=dict,
            start_to_close_timeout=DISCOVERY_TIMEOUT,
            heartbeat_timeout=DISCOVERY_HEARTBEAT,
            retry_policy=retries.DISCOVERY,
            summary=f"discover {kind} {subscription.get('repoURL', '')}",
        )

    async def _make_freight(self, spec: dict[str, Any], discovered: dict[str, Any]) -> str:
        """Offer this pass's newest combination to the catalog; the status message it leaves."""
        if (spec.get("freightCreationPolicy") or "Automatic") == "Manual":
            return "freightCreationPolicy is Manual: create Freight with `gantry freight create`"
        try:
            candidate = freight_candidate(self._input.warehouse, discovered)
            check_criteria((spec.get("freightCreationCriteria") or {}).get("expression"), discovered, now=workflow.now())
        except NoCandidate as why:
            return str(why)
        if freight_name(candidate["origin"], candidate["images"], candidate["commits"], candidate["charts"]) == self._state.last_freight:
            return ""  # the same artifacts as the Freight this Warehouse made last: nothing to ask the project
        try:
            freight = await workflow.execute_activity(
                "create_warehouse_freight",
                NewFreight(project=self._input.project, freight=candidate),
                result_type=dict,
                start_to_close_timeout=CATALOG_TIMEOUT,
                retry_policy=retries.CREATE_FREIGHT,
                summary="create freight from the newest artifacts",
            )
        except ActivityError as err:
            return f"could not create freight: {cause_message(err)}"
        self._state.last_freight = freight.get("name")
        self._state.last_freight_alias = freight.get("alias")
        return ""
