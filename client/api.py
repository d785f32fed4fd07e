"""The Python client API: what the CLI does, callable from code.

Everything goes through Temporal: applies are updates on the ProjectWorkflow, reads
are queries, promotions are PromotionWorkflow executions.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightPage, FreightRefused, FreightStore, query_literal
from activities.lifetimes import first_started
from activities.garbage import project_settings, worker_settings
from activities.starting import start_promotion
from client.documents import StageFacts
from client.settings import TemporalSettings, quiet_runtime
from activities.updates import retry_unprocessed
from pipeline.auto_promotion import Offer, auto_promotion_enabled, refresh_offers
from pipeline.availability import Availability, downstream_of, downstream_refusal, freight_availability
from pipeline.freight import StageVisit, merge_visits
from pipeline.garbage import PromotionRecord, promotions_to_collect
from pipeline.manifests import ManifestSet
from workflows import search_attributes as sa
from workflows.failures import cause_message
from workflows.ids import (
    CLUSTER_WORKFLOW_ID,
    project_workflow_id,
    promotion_name,
    promotion_workflow_id,
    stage_workflow_id,
    warehouse_workflow_id,
)
from workflows.messages import (
    ApplyRequest,
    ApplyResult,
    LockRequest,
    PromotionOptions,
    PromotionRequest,
    PromotionStatus,
    StageHistory,
    StageLockView,
    StageView,
    UpstreamVerified,
)
from workflows.outcomes import PROMOTION_ENDED_BADLY, VERIFICATION_ENDED_BADLY
from workflows.project import ProjectInput
from workflows.stage import signal_stage
from workflows.task_queues import DEFAULT_TASK_QUEUE
from workflows.verification import VerificationStatus
from workflows.warehouse import WarehouseInput, WarehouseStatus, wake_warehouse


#: the shortest prefix of a promotion's name that `find_promotion` accepts (as for Freight)
PROMOTION_PREFIX = 7


class GantryError(Exception):
    """A request the server refused, with its reason in plain words."""


class PromotionHandle:
    """A started promotion: its Temporal handle, whose `result()` is the final
    PromotionStatus whatever the workflow's outcome (Failed and Errored promotions fail
    their workflow, aborted ones are Canceled: `Gantry.promotion_result`)."""

    def __init__(self, gantry: "Gantry", handle: WorkflowHandle[Any, PromotionStatus]):
        self._gantry = gantry
        self.handle = handle
        self.id = handle.id

    async def result(self) -> PromotionStatus:
        return await self._gantry.promotion_result(self.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def _sortable_id() -> str:
    """Time-ordered and unique enough for promotion names (like Kargo's ULIDs)."""
    import secrets

    return f"{int(time.time() * 1000):013x}{secrets.token_hex(3)}"


class Gantry:
    """A connected Gantry client."""

    def __init__(self, client: Client, task_queue: str = DEFAULT_TASK_QUEUE):
        self.client = client
        self.task_queue = task_queue
        self.store = FreightStore(client, task_queue)

    @classmethod
    async def connect(cls, settings: TemporalSettings | None = None) -> Gantry:
        from client.watchdog import WorkerWatchdog

        settings = settings or TemporalSettings()
        # queries and updates that no worker answers say so within seconds (client/watchdog.py)
        watchdog = WorkerWatchdog(settings.task_queue, settings.connect_config().get("target_host", ""))
        client = await settings.connect(interceptors=[watchdog], runtime=quiet_runtime())
        watchdog.client = client
        return cls(client, settings.task_queue)

    # -- manifests -------------------------------------------------------------------

    async def _apply_to(self, workflow_id: str, name: str, request: ApplyRequest) -> ApplyResult:
        def start() -> WithStartWorkflowOperation:  # one per attempt: an operation is used once
            return WithStartWorkflowOperation(
                "ProjectWorkflow",
                ProjectInput(name=name),
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"Project {name}" if name != "cluster" else "Cluster-scoped manifests",
            )

        try:
            return await retry_unprocessed(
                lambda: self.client.execute_update_with_start_workflow(
                    "apply", request, start_workflow_operation=start(), result_type=ApplyResult
                )
            )
        except WorkflowUpdateFailedError as err:
            raise GantryError(cause_message(err)) from None
        except RPCError as err:
            raise GantryError(err.message) from None

    async def cluster_manifests(self) -> dict[str, Any] | None:
        return await self._query_or_none(CLUSTER_WORKFLOW_ID, "manifests")

    async def apply(self, documents_by_scope: dict[str | None, list[dict[str, Any]]], *, prune: bool = False) -> list[str]:
        """Apply parsed documents, grouped by project (None = cluster-scoped). Cluster-scoped
        ones go first, so that projects may reference them in the same apply. `prune` also
        deletes, in each project given, the objects its documents do not name."""
        results: list[str] = []
        if documents_by_scope.get(None):
            applied = await self._apply_to(
                CLUSTER_WORKFLOW_ID, "cluster", ApplyRequest(documents=documents_by_scope[None])
            )
            results += applied.results
        cluster = await self.cluster_manifests()
        for project, documents in documents_by_scope.items():
            if project is None or not documents:
                continue
            applied = await self._apply_to(
                project_workflow_id(project),
                project,
                ApplyRequest(documents=documents, default_project=project, cluster=cluster, prune=prune),
            )
            results += applied.results
        return results

    async def _query_or_none(self, workflow_id: str, query: str, *args: Any, result_type: type | None = None) -> Any:
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await handle.query(query, *args, result_type=result_type)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _project(self, project: str, query: str, *args: Any, result_type: type | None = None) -> Any:
        result = await self._query_or_none(project_workflow_id(project), query, *args, result_type=result_type)
        if query in ("manifests", "stages", "freight"):  # a deleted project's workflow still answers
            if not await self.project_exists(project):
                raise GantryError(f"project {project!r} does not exist (apply its manifests first)")
        return result

    async def project_exists(self, project: str) -> bool:
        """Its workflow runs (a deleted project's has ended)."""
        try:
            described = await self.client.get_workflow_handle(project_workflow_id(project)).describe()
            return described.status == WorkflowExecutionStatus.RUNNING
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise

    async def projects(self) -> list[str]:
        names = []
        query = "WorkflowType='ProjectWorkflow' AND ExecutionStatus='Running'"
        async for execution in self.client.list_workflows(query):
            if execution.id.startswith("project/"):
                names.append(execution.id.removeprefix("project/"))
        return sorted(set(names))

    async def manifests(self, project: str) -> dict[str, Any]:
        return await self._project(project, "manifests") or {}

    async def stages(self, project: str) -> list[StageView]:
        return await self._project(project, "stages", result_type=list[StageView]) or []

    # -- freight ---------------------------------------------------------------------

    async def freight(self, project: str, warehouse: str | None = None) -> list[dict[str, Any]]:
        """Every Freight of the project (or of one Warehouse), newest first."""
        await self._require_project(project)
        return await self.store.all(project, warehouse)

    async def freight_page(
        self, project: str, *, limit: int = 100, token: str | None = None, warehouse: str | None = None
    ) -> FreightPage:
        """A page of Freight, newest first; `next_token` continues the list (None at the end)."""
        await self._require_project(project)
        try:
            return await self.store.page(project, limit=limit, token=token, warehouse=warehouse)
        except (ValueError, RPCError) as err:
            raise GantryError(f"cannot list freight: {err}") from None

    async def get_freight(self, project: str, name_or_alias: str) -> dict[str, Any]:
        found = await self.store.find(project, name_or_alias)
        if not found:
            await self._require_project(project)
            raise GantryError(f"freight {name_or_alias!r} does not exist in project {project}")
        return found

    async def _require_project(self, project: str) -> None:
        if not await self.project_exists(project):
            raise GantryError(f"project {project!r} does not exist (apply its manifests first)")

    async def _update_project(self, project: str, update: str, arg: Any) -> dict[str, Any]:
        """A project update; its validator's refusal becomes a GantryError with the reason."""
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        try:
            return await retry_unprocessed(lambda: handle.execute_update(update, arg, result_type=dict))
        except WorkflowUpdateFailedError as err:
            raise GantryError(cause_message(err)) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise GantryError(f"project {project!r} does not exist (apply its manifests first)") from None
            raise GantryError(err.message) from None

    async def create_freight(self, project: str, freight: dict[str, Any]) -> dict[str, Any]:
        """New Freight (a FreightWorkflow), or the existing one with the same artifacts."""
        try:
            return await self.store.create(project, freight, datetime.now(timezone.utc))
        except FreightRefused as err:
            raise GantryError(str(err)) from None
        except ValueError as err:
            raise GantryError(str(err)) from None

    async def set_freight_alias(self, project: str, freight: str, alias: str) -> dict[str, Any]:
        return await self._update_project(project, "set_freight_alias", {"freight": freight, "alias": alias})

    # -- warehouses ------------------------------------------------------------------

    async def _check_warehouse(self, project: str, warehouse: str) -> None:
        if await self._project(project, "warehouse", warehouse) is None:
            manifests = await self.manifests(project)
            known = sorted(((manifests.get("projects") or {}).get(project) or {}).get("warehouses") or {})
            raise GantryError(
                f"warehouse {warehouse!r} does not exist in project {project}"
                + (f" (warehouses: {', '.join(known)})" if known else "")
            )

    async def refresh_warehouse(self, project: str, warehouse: str, *, wait: bool = False) -> WarehouseStatus | None:
        """Discover now. With `wait`, return the status after a pass that began after this call."""
        await self._check_warehouse(project, warehouse)
        if not wait:
            await wake_warehouse(self.client, self.task_queue, project, warehouse)
            return None
        def start() -> WithStartWorkflowOperation:
            return WithStartWorkflowOperation(
                "WarehouseWorkflow",
                WarehouseInput(project=project, warehouse=warehouse),
                id=warehouse_workflow_id(project, warehouse),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=self.task_queue,
                static_summary=f"Warehouse {warehouse} of project {project}",
            )

        return await retry_unprocessed(
            lambda: self.client.execute_update_with_start_workflow(
                "refresh", start_workflow_operation=start(), result_type=WarehouseStatus
            )
        )

    async def warehouse_status(self, project: str, warehouse: str) -> WarehouseStatus | None:
        return await self._query_or_none(warehouse_workflow_id(project, warehouse), "status", result_type=WarehouseStatus)

    # -- promotions ------------------------------------------------------------------

    async def promote(
        self,
        project: str,
        stage: str,
        freight: str,
        *,
        actor: str | None = None,
        options: PromotionOptions | None = None,
        dry_run: bool = False,
        wait_for_soak: bool = False,
        check: bool = False,
        rollback: bool = False,
    ) -> PromotionHandle:
        """Start a promotion; the Freight is checked first so a typo fails here. With
        `check`, Freight the Stage may not receive yet is refused here, with the reason
        (the workflow applies the same rule again, on its own clock). An unknown project or
        Stage is refused before anything starts (no Stage workflow is made for it)."""
        # both reads at once (a round trip off every promotion); the Stage's error comes first
        stage_known, found = await asyncio.gather(
            self.require_stage(project, stage), self.get_freight(project, freight), return_exceptions=True
        )
        for outcome in (stage_known, found):
            if isinstance(outcome, BaseException):
                raise outcome
        if check and not dry_run:
            availability = (await self.availability(project, found)).get(stage)
            if availability and not availability.available and not (wait_for_soak and availability.soak_until):
                raise GantryError(availability.reason)
        name = promotion_name(stage, _sortable_id(), found["name"])
        if dry_run:
            name = "dry-run." + name
        request = PromotionRequest(
            project=project, stage=stage, freight=found["name"], actor=actor, options=options or PromotionOptions(),
            dry_run=dry_run, wait_for_soak=wait_for_soak, rollback=rollback,
        )
        workflow_id = promotion_workflow_id(project, stage, name)
        if not dry_run:
            request.queued = await self._reserve_lock(project, stage, workflow_id)
        try:
            return await self._start_promotion(request, workflow_id, found)
        except BaseException:
            if request.queued:
                await self._signal_stage(project, stage, "release", workflow_id)
            raise

    async def promote_downstream(
        self, project: str, upstream: str, freight: str, *, actor: str | None = None, wait_for_soak: bool = False
    ) -> list[PromotionHandle]:
        """Promote Freight to every Stage directly downstream of `upstream` (Kargo's
        `promote --downstream-from`): refused, before any starts, unless each may take it."""
        await self.require_stage(project, upstream)
        found = await self.get_freight(project, freight)
        manifests = ManifestSet.model_validate(await self.manifests(project))
        stages = manifests.projects[project].stages
        refusal = downstream_refusal(stages, upstream, found, datetime.now(timezone.utc), wait_for_soak=wait_for_soak)
        if refusal:
            raise GantryError(refusal)
        targets = downstream_of(stages, upstream, (found.get("origin") or {}).get("name", ""))
        return [
            await self.promote(project, stage, found["name"], actor=actor, wait_for_soak=wait_for_soak, check=True)
            for stage in targets
        ]

    async def refresh_stage(self, project: str, stage: str) -> list[Offer] | None:
        """Kargo's `refresh stage`: select the Stage's auto-promotion candidates now and
        offer them to its workflow, which promotes them unless auto-promotion of their origin
        is held (what it would have done had it been told when they became available). None
        when auto-promotion is off for the Stage."""
        await self.require_stage(project, stage)
        manifests = ManifestSet.model_validate(await self.manifests(project)).projects[project]
        model = manifests.stages[stage]
        if not auto_promotion_enabled(manifests.project_config, model):
            return None
        now = datetime.now(timezone.utc)
        offers = refresh_offers(model, await self.store.all(project), now)
        for offer in offers:
            event = UpstreamVerified(
                freight=offer.freight, upstream=offer.upstream, verified_at=offer.verified_at or now, soak_until=now,
                match_upstream=offer.match_upstream,
            )  # fmt: skip
            await self._signal_stage(project, stage, "upstream_verified", event)
        return offers

    async def require_stage(self, project: str, stage: str) -> None:
        """A GantryError naming the project or the Stage unless both are applied."""
        stages = ((await self.manifests(project)).get("projects") or {}).get(project, {}).get("stages") or {}
        if stage not in stages:
            known = ", ".join(sorted(stages)) or "none applied"
            raise GantryError(f"stage {stage!r} does not exist in project {project} (stages: {known})")

    async def _reserve_lock(self, project: str, stage: str, workflow_id: str) -> bool:
        """Take the promotion's place in the Stage's lock queue before it starts, so that
        promotions are served in the order they were requested (not the order their first
        activities happen to run). False when the Stage cannot be told now: the promotion
        then takes its place itself, when it asks for the lock."""
        try:
            await self._signal_stage(
                project, stage, "acquire",
                LockRequest(promotion=workflow_id, requested_at=datetime.now(timezone.utc), ready=False),
            )  # fmt: skip
        except RPCError:
            return False
        return True

    async def _signal_stage(self, project: str, stage: str, signal: str, arg: Any) -> None:
        await signal_stage(self.client, self.task_queue, project, stage, signal, arg)

    async def _start_promotion(
        self, request: PromotionRequest, workflow_id: str, found: dict[str, Any]
    ) -> PromotionHandle:
        handle = await start_promotion(self.client, self.task_queue, request, workflow_id.rsplit("/", 1)[-1], found)
        return PromotionHandle(self, handle)

    async def availability(
        self, project: str, freight: dict[str, Any], manifests: ManifestSet | None = None
    ) -> dict[str, Availability]:
        """Per Stage: may it receive this Freight now? (the client's clock; pass `manifests`
        when asking for many Freight)"""
        manifests = manifests or ManifestSet.model_validate(await self.manifests(project))
        stages = manifests.projects[project].stages if project in manifests.projects else {}
        now = datetime.now(timezone.utc)
        return {name: freight_availability(stage, freight, now) for name, stage in sorted(stages.items())}

    async def approve(self, project: str, stage: str, freight: str, actor: str) -> dict[str, Any]:
        """Approve Freight for a Stage (Kargo's manual approval: bypasses verification and soak)."""
        return await self._update_project(project, "approve", {"stage": stage, "freight": freight, "actor": actor})

    async def stage_lock(self, project: str, stage: str) -> StageLockView | None:
        return await self._query_or_none(stage_workflow_id(project, stage), "lock", result_type=StageLockView)

    async def _stage_history(self, project: str, stage: str) -> StageHistory:
        """The Stage's own history, and what the project kept of it before Stages kept their own."""
        own = await self._query_or_none(stage_workflow_id(project, stage), "history", result_type=StageHistory)
        own = own or StageHistory()
        older = await self._project(project, "stage_history", stage) or []
        visits = merge_visits(own.visits, [StageVisit.model_validate(v) for v in older])
        runs = own.verifications + [
            v for v in await self._project(project, "verification_history", stage) or [] if v not in own.verifications
        ]
        return StageHistory(visits=visits, verifications=runs)

    async def stage_history(self, project: str, stage: str) -> list[dict[str, Any]]:
        """The Stage's Freight history, newest first."""
        return [v.model_dump(mode="json") for v in (await self._stage_history(project, stage)).visits]

    async def verification_history(self, project: str, stage: str) -> list[dict[str, Any]]:
        """The Stage's last verification runs, newest first."""
        return (await self._stage_history(project, stage)).verifications

    async def stage_facts(
        self, project: str, *, history: bool = False, names: set[str] | None = None
    ) -> list[StageFacts]:
        """What `gantry get stages` shows of every Stage, asked of all Stages at once: the
        view, manifest, lock, verification runs, current Freight, the lock holder's status
        and the newest ended promotion; with `history`, the Freight of the whole history."""
        views = [v for v in await self.stages(project) if names is None or v.name in names]
        manifests = await self.manifests(project)
        stage_docs = ((manifests.get("projects") or {}).get(project) or {}).get("stages") or {}
        cache: dict[str, asyncio.Future] = {}

        def freight(name: str) -> asyncio.Future:
            if name not in cache:  # one look-up per Freight, however many Stages have it
                cache[name] = asyncio.ensure_future(self.store.find(project, name))
            return cache[name]

        async def holder_status(holder: str | None) -> PromotionStatus | None:
            if not holder:
                return None
            try:
                return await self.promotion_status(holder)
            except (GantryError, RPCError):  # it ended in between
                return None

        async def one(view: StageView) -> StageFacts:
            lock, kept, last = await asyncio.gather(
                self.stage_lock(project, view.name),
                self._stage_history(project, view.name),
                self.last_ended_promotion(project, view.name),
            )
            visits = [v.model_dump(mode="json") for v in kept.visits]
            names = {v["freight"] for v in visits} if history else set()
            if view.freight:
                names.add(view.freight)
            ordered = sorted(names)
            records, holder = await asyncio.gather(
                asyncio.gather(*(freight(n) for n in ordered)), holder_status(lock.holder if lock else None)
            )
            return StageFacts(
                view=view,
                manifest=stage_docs.get(view.name) or {},
                lock=lock,
                verifications=kept.verifications,
                visits=visits if history else [],
                freight={n: r for n, r in zip(ordered, records) if r is not None},
                holder=holder,
                last_promotion=last,
            )

        return list(await asyncio.gather(*(one(v) for v in views)))

    async def running_verification(self, project: str, stage: str) -> str | None:
        """The workflow id of the verification the Stage's lock holder is running, if any."""
        lock = await self.stage_lock(project, stage)
        if lock is None or lock.holder is None:
            return None
        status = await self.promotion_status(lock.holder)
        return status.verification_id if status.verification == "Running" else None

    async def latest_verification(self, project: str, stage: str) -> str | None:
        query = f"WorkflowType='VerificationWorkflow' AND GantryProject='{project}' AND GantryStage='{stage}'"
        latest = None
        async for execution in self.client.list_workflows(query):
            if latest is None or (execution.start_time and execution.start_time > latest.start_time):
                latest = execution
        return latest.id if latest else None

    async def reverify(self, project: str, stage: str) -> PromotionHandle:
        """Verify the Stage's current Freight again (a promotion that runs no steps)."""
        views = {s.name: s for s in await self.stages(project)}
        if stage not in views:
            raise GantryError(f"stage {stage!r} does not exist in project {project}")
        if not views[stage].freight:
            raise GantryError(f"stage {stage} has no Freight to verify")
        freight = views[stage].freight
        name = "verify." + promotion_name(stage, _sortable_id(), freight)
        request = PromotionRequest(project=project, stage=stage, freight=freight, actor="reverify", verify_only=True)
        found = {"name": freight, "alias": views[stage].freight_alias}
        return PromotionHandle(self, await start_promotion(self.client, self.task_queue, request, name, found))

    async def abort_promotion(self, workflow_id: str, reason: str = "aborted by user") -> None:
        """Abort through Temporal's cancellation: the running step is cancelled, the lock
        given back, and the workflow ends Canceled (the phase is Aborted)."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            described = await handle.describe()
            if described.status != WorkflowExecutionStatus.RUNNING:
                state = described.status.name.lower() if described.status else "ended"
                raise GantryError(f"promotion {workflow_id!r} is not running (it {state})")
            await handle.cancel(reason=reason)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise GantryError(f"promotion {workflow_id!r} is not running") from None
            raise

    async def _final_status(self, workflow_id: str, model: type[Any], failed_types: set[str], what: str) -> Any:
        """The status a workflow ended with (workflows/outcomes.py): its result when it
        completed, the failure's details when it failed on purpose, its last queried status
        when it was cancelled (aborted)."""
        handle = self.client.get_workflow_handle(workflow_id, result_type=model)
        try:
            return await handle.result()
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in failed_types and cause.details:
                return model.model_validate(cause.details[0])
            if isinstance(cause, CancelledError):
                try:
                    return await handle.query("status", result_type=model)
                except RPCError as gone:
                    if gone.status == RPCStatusCode.NOT_FOUND:
                        raise GantryError(f"{what} {workflow_id!r} does not exist") from None
                    raise
            raise GantryError(f"{what} {workflow_id} ended without a status: {cause_message(err)}") from None

    async def promotion_result(self, workflow_id: str) -> PromotionStatus:
        """Wait for a promotion to end and return its final status, whatever the workflow's
        outcome (a Failed or Errored promotion fails its workflow; an aborted one is Canceled)."""
        return await self._final_status(workflow_id, PromotionStatus, set(PROMOTION_ENDED_BADLY.values()), "promotion")

    async def verification_result(self, workflow_id: str) -> VerificationStatus:
        """Wait for a verification to end and return its final status (Completed when
        Successful, its workflow Failed or Canceled otherwise)."""
        return await self._final_status(
            workflow_id, VerificationStatus, set(VERIFICATION_ENDED_BADLY.values()), "verification"
        )

    async def promotion_status(self, workflow_id: str) -> PromotionStatus:
        handle = self.client.get_workflow_handle(workflow_id, result_type=PromotionStatus)
        try:
            return await handle.query("status", result_type=PromotionStatus)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise GantryError(f"promotion {workflow_id!r} does not exist") from None
            raise

    async def find_promotion(self, project: str, name: str) -> str:
        """A workflow id from a promotion name, a unique prefix of one (at least
        PROMOTION_PREFIX characters), or a workflow id given as is."""
        if name.startswith("promotion/"):
            return name
        query = f"WorkflowType='PromotionWorkflow' AND GantryProject={query_literal(project)}"
        ids = [execution.id async for execution in self.client.list_workflows(query)]
        return pick_promotion(name, ids, project)

    async def last_ended_promotion(self, project: str, stage: str) -> dict[str, Any] | None:
        """The Stage's promotion that ended last, as `promotions` lists it (visibility lists
        closed workflows newest first; the newest few are read, whatever the backend's order)."""
        query = (
            f"WorkflowType='PromotionWorkflow' AND GantryProject={query_literal(project)} "
            f"AND GantryStage={query_literal(stage)} AND ExecutionStatus != 'Running'"
        )
        rows = [_promotion_row(e) async for e in self.client.list_workflows(query, limit=20)]
        return max(rows, key=lambda r: r["finished"] or "", default=None)

    async def promotions(
        self, project: str, stage: str | None = None, *, collected: bool = False
    ) -> list[dict[str, Any]]:
        """Promotions, newest first: per Stage, those Kargo's garbage collection keeps
        (`pipeline/garbage.py`); `collected` adds the ones past it that Temporal still retains."""
        query = f"WorkflowType='PromotionWorkflow' AND GantryProject={query_literal(project)}"
        if stage:
            query += f" AND GantryStage={query_literal(stage)}"
        # each row with its start to the microsecond (a row shows seconds)
        listed = [(_promotion_row(e), e.start_time) async for e in self.client.list_workflows(query)]
        listed.sort(key=lambda pair: pair[1].timestamp() if pair[1] else 0.0, reverse=True)
        rows = [row for row, _ in listed]
        if collected or not rows:
            return rows
        try:
            settings = await project_settings(self.client, project)
        except RPCError:  # the project is gone: the worker's settings
            settings = worker_settings()
        begun = await first_started(self.client, project_workflow_id(project))
        if begun is not None:  # a deleted project of the same name: Kargo deleted its Promotions with it
            # (compared to the microsecond: a re-applied project often begins in the same second)
            rows = [row for row, at in listed if at is not None and at >= begun]
        now = datetime.now(timezone.utc)
        gone: set[str] = set()
        for name in {r["stage"] for r in rows}:
            records = [
                PromotionRecord(r["id"], datetime.fromisoformat(r["started"]), ended=r["status"] != "running")
                for r in rows
                if r["stage"] == name and r["started"]
            ]
            gone.update(promotions_to_collect(records, now, settings))
        return [r for r in rows if r["id"] not in gone]


def _promotion_row(execution: Any) -> dict[str, Any]:
    """A promotion as visibility lists it: name, workflow id, stage, freight, phase, times."""
    attrs = execution.typed_search_attributes

    def at(moment: datetime | None) -> str | None:
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None

    return {
        "name": execution.id.rsplit("/", 1)[-1],
        "id": execution.id,
        "stage": attrs.get(sa.STAGE),
        "freight": attrs.get(sa.FREIGHT),
        "phase": attrs.get(sa.PHASE),
        "started": at(execution.start_time),
        "status": execution.status.name.lower() if execution.status else None,
        "finished": at(execution.close_time),
    }


def pick_promotion(name: str, workflow_ids: list[str], project: str) -> str:
    """The workflow id whose promotion name (its last segment) is `name`, else the only one
    that starts with `name` when `name` has at least PROMOTION_PREFIX characters."""
    matches = set()
    for workflow_id in workflow_ids:
        short = workflow_id.rsplit("/", 1)[-1]
        if short == name:
            return workflow_id
        if short.startswith(name):
            matches.add(workflow_id)
    if len(matches) == 1 and len(name) >= PROMOTION_PREFIX:
        return matches.pop()
    if matches:
        raise GantryError(
            f"promotion {name!r} is ambiguous or too short: give at least {PROMOTION_PREFIX} characters "
            "of a name `gantry get promotions` shows"
            + (f" ({len(matches)} promotions start with it)" if len(matches) > 1 else "")
        )
    raise GantryError(f"promotion {name!r} does not exist in project {project}")


async def fetch_freight(project: str, name_or_alias: str, settings: TemporalSettings | None = None) -> dict[str, Any]:
    """One Freight, for `gantry expr --freight`."""
    gantry = await Gantry.connect(settings)
    return await gantry.get_freight(project, name_or_alias)


__all__ = ["Gantry", "GantryError", "PromotionHandle", "fetch_freight", "pick_promotion"]
