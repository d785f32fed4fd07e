"""ProjectWorkflow: a project's applied manifests and its Freight catalog.

One long-lived workflow per project (id `project/<name>`); the cluster-scoped kinds
(ClusterPromotionTask, ClusterAnalysisTemplate) live in the same kind of workflow under
the reserved id `cluster`. Apply is an update with a validator: a set that does not
validate is rejected before it touches the state, so a bad apply changes nothing.

A bug in this workflow's code (see `workflows/bugs.py`) never stops it: an update that hits
one fails with an `InternalError` naming it, a `promotion_finished` signal that hits one is
logged and dropped, and an item of an outbound queue (new Freight to announce, verified
Freight to offer downstream, Warehouses to wake) that hits one is logged and dropped, so the
queue moves on. Changes a handler made before the bug stay; nothing is rolled back.
"""

from __future__ import annotations

from datetime import timedelta
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import retries
    from pipeline import freight as freight_rules
    from pipeline.freight import FreightCatalog, FreightChange, check_alias, check_artifacts, forget_stage, set_alias
    from workflows.failures import cause_message
    from workflows.ids import stage_workflow_id
    from workflows import continuation, patches
    from workflows.bugs import LONG_LIVED_PATCH, guard_signal, guard_update, handles, log_bug
    from pipeline.expressions.data import PromotionData
    from pipeline.deletion import DeletePlan, ObjectRef, plan_deletion, prune_targets, without
    from pipeline.auto_promotion import DownstreamStage, auto_promotion_enabled, stages_to_tell
    from pipeline.manifests import (
        ManifestError,
        ManifestIssue,
        ManifestSet,
        SourceDocument,
        load_sourced,
        validate_set,
    )
    from workflows.messages import (
        ApplyRequest,
        ApplyResult,
        AutoPromotionQuery,
        AutoPromotionState,
        DeleteRequest,
        DeleteResult,
        DownstreamRequest,
        FreightChangeRequest,
        FreightCreate,
        FreightImport,
        FreightVerified,
        PromotionContext,
        PromotionContextRequest,
        PromotionFinished,
        ProjectRef,
        StageHistory,
        StageRef,
        StageView,
        WakeWarehouses,
    )

#: Continue-as-new well before Temporal's own history limits.
DEFAULT_MAX_HISTORY = 5_000


class ProjectState(BaseModel):
    manifests: ManifestSet = Field(default_factory=ManifestSet)
    #: where each Stage's Freight is and was; Freight itself lives in FreightWorkflows, and
    #: `catalog.freight` only holds Freight of projects from before those (emptied into them)
    #: or made by the `create_freight` update, until the run loop moves it out
    catalog: FreightCatalog = Field(default_factory=FreightCatalog)
    #: no longer kept (nothing read it, and it grew with every verification); old runs carry it
    promotions: list[PromotionFinished] = Field(default_factory=list, exclude=True)
    stage_metadata: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: per Stage, its verification runs, newest first
    verifications: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    #: new Freight still to offer to direct Stages
    announce: list[str] = Field(default_factory=list)
    #: stage -> origin warehouses whose auto-promotion a user's promotion of older Freight holds
    holds: dict[str, list[str]] = Field(default_factory=dict)
    #: Freight verified in a Stage, still to be offered to the Stages downstream
    verified: list[FreightVerified] = Field(default_factory=list)
    #: Warehouses applied (created or changed) whose workflows still have to be woken
    wake: list[str] = Field(default_factory=list)
    #: status changes (entered, left, verified) still to make on FreightWorkflows
    freight_changes: list[FreightChangeRequest] = Field(default_factory=list)
    #: Stages whose history and verification runs kept here go to their own workflows
    hand_over: list[str] = Field(default_factory=list)
    #: deleted Stages whose workflows are still to be told to end once idle (`retire`)
    retire: list[str] = Field(default_factory=list)
    #: the project was deleted: once the queues above are told, its Freight and this workflow end
    deleted: bool = False


class ProjectInput(BaseModel):
    name: str
    state: ProjectState | None = None
    max_history: int = DEFAULT_MAX_HISTORY


#: verification runs kept per Stage for `gantry get stage`
VERIFICATIONS_KEPT = 20
#: Freight moved out of a catalog of old into FreightWorkflows per activity
MIGRATION_BATCH = 100
#: the run loop moves `catalog.freight` into FreightWorkflows (not in histories from before)
FREIGHT_MIGRATION_PATCH = patches.FREIGHT_WORKFLOWS.id


@workflow.defn(name="ProjectWorkflow")
class ProjectWorkflow:
    @workflow.init
    def __init__(self, input: ProjectInput) -> None:
        self._name = input.name
        self._state = input.state or ProjectState()
        self._state.promotions = []
        self._max_history = input.max_history
        #: None until the loop first sees Freight of old in the catalog (then: may it move them?)
        self._migrating: bool | None = None

    @workflow.run
    async def run(self, input: ProjectInput) -> None:
        while True:
            await workflow.wait_condition(
                lambda: bool(
                    self._state.announce
                    or self._state.wake
                    or self._state.verified
                    or self._state.freight_changes
                    or self._state.hand_over
                    or self._state.retire
                    or self._state.deleted
                    or (self._state.catalog.freight and self._migrating is not False)
                )
                or self._should_continue_as_new()
            )
            if self._should_continue_as_new():
                break
            if self._state.catalog.freight and self._migrating is not False:
                self._migrating = workflow.patched(FREIGHT_MIGRATION_PATCH)
                if self._migrating:
                    await self._move_freight_out()
            await self._serve(self._state.hand_over, self._hand_history_over, "handing a stage its history")
            await self._serve(self._state.freight_changes, self._change_freight, "changing freight")
            if self._state.wake:
                names = list(self._state.wake)
                try:
                    await self._wake_warehouses()
                except Exception as err:
                    if not self._bug_to_drop(err, "waking warehouses", names):
                        raise
                    self._state.wake = [n for n in self._state.wake if n not in names]
            await self._serve(self._state.announce, self._announce_new_freight, "announcing new freight")
            await self._serve(self._state.verified, self._offer_downstream, "offering verified freight downstream")
            await self._serve(self._state.retire, self._retire_stage, "ending a deleted stage's workflow")
            if self._state.deleted and not (self._state.retire or self._state.wake):
                await self._end_freight()
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.logger.info("project %s was deleted: its workflow ends", self._name)
                return
        await continuation.hand_over(ProjectInput(name=self._name, state=self._state, max_history=self._max_history))

    async def _announce_new_freight(self) -> None:
        """New Freight reaches the Stages that take it directly (where auto-promotion is on)."""
        name = self._state.announce[0]
        freight = self._state.catalog.freight.get(name)
        if freight is not None:
            event = FreightVerified(project=self._name, stage="", freight=name, verified_at=workflow.now())
            await self._tell("notify_downstream", event, f"offer new freight {freight.get('alias')} to direct stages")
        self._state.announce.pop(0)

    async def _offer_downstream(self) -> None:
        """Verified Freight reaches the Stages downstream (their soak timers start), off the
        promotion's path: the promotion ends as soon as the project has recorded it."""
        event = self._state.verified[0]
        summary = f"tell stages downstream of {event.stage} that {event.freight[:7]} is verified"
        await self._tell("notify_downstream", event, summary)
        self._state.verified.pop(0)

    async def _tell(self, activity: str, arg: BaseModel, summary: str) -> None:
        """Tell other workflows something through an activity (retries.TELL); if it still
        fails, log it and go on: the queue behind it must not wait for ever."""
        try:
            await workflow.execute_activity(
                activity, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retries.TELL, summary=summary
            )
        except ActivityError as err:
            workflow.logger.warning("%s: failed (%s)", summary, err)

    async def _move_freight_out(self) -> None:
        """Freight kept in the catalog (a project from before FreightWorkflows, or made by the
        `create_freight` update) becomes FreightWorkflows, oldest first so that lists keep
        their order, a batch per activity; each leaves the catalog once its workflow runs."""
        catalog = self._state.catalog
        oldest = sorted(catalog.freight.values(), key=lambda f: (f.get("discoveredAt") or "", f["name"]))
        batch = oldest[:MIGRATION_BATCH]
        # new Freight still to announce is announced first, from here, as before
        batch = [f for f in batch if f["name"] not in self._state.announce]
        if not batch:
            return
        try:
            await workflow.execute_activity(
                "import_freight",
                FreightImport(project=self._name, records=batch),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=retries.MOVE_OUT,
                summary=f"move {len(batch)} freight into freight workflows",
            )
        except ActivityError as err:  # not retryable: stop trying until the next run
            workflow.logger.error("could not move freight into freight workflows (tried again in the next run): %s", err)
            self._migrating = False
            return
        for record in batch:
            catalog.freight.pop(record["name"], None)
            if catalog.aliases.get(record.get("alias") or "") == record["name"]:
                del catalog.aliases[record["alias"]]

    async def _hand_history_over(self) -> None:
        """What this project kept of a Stage's history (before Stages kept their own) goes to
        the Stage's workflow, and leaves here."""
        stage = self._state.hand_over[0]
        kept = StageHistory(
            visits=self._state.catalog.history.get(stage, []), verifications=self._state.verifications.get(stage, [])
        )
        try:
            await workflow.get_external_workflow_handle(stage_workflow_id(self._name, stage)).signal("adopt_history", kept)
        except Exception as err:  # the Stage's workflow is gone: its history goes with it
            workflow.logger.warning("could not hand stage %s its history: %s", stage, err)
        self._state.catalog.history.pop(stage, None)
        self._state.verifications.pop(stage, None)
        self._state.hand_over.pop(0)

    async def _retire_stage(self) -> None:
        """A deleted Stage's workflow ends once no promotion holds or waits for its lock, and
        its project's Freight forget it (unless the whole project goes)."""
        stage = self._state.retire[0]
        reason = f"stage {stage!r} was deleted from project {self._name}"
        try:
            await workflow.get_external_workflow_handle(stage_workflow_id(self._name, stage)).signal("retire", reason)
        except Exception as err:  # no workflow for it ran: nothing to end
            workflow.logger.info("stage %s has no workflow to end: %s", stage, err)
        if not self._state.deleted:
            try:
                await workflow.execute_activity(
                    "forget_stage_in_freight",
                    StageRef(project=self._name, stage=stage),
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=timedelta(seconds=30),
                    retry_policy=retries.TELL,
                    summary=f"freight forgets deleted stage {stage}",
                )
            except ActivityError as err:
                workflow.logger.warning("freight could not forget deleted stage %s: %s", stage, err)
        self._state.retire.pop(0)

    async def _end_freight(self) -> None:
        """A deleted project's FreightWorkflows end (garbage collection's `collect`), aliases freed."""
        try:
            await workflow.execute_activity(
                "end_project_freight",
                ProjectRef(project=self._name),
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=retries.TELL,
                summary=f"end the freight of deleted project {self._name}",
            )
        except ActivityError as err:
            workflow.logger.warning("could not end the freight of deleted project %s: %s", self._name, err)

    async def _change_freight(self) -> None:
        """A promotion's effect on its Freight (entered, verified) and on the Freight it
        replaced (left), made on their FreightWorkflows."""
        request = self._state.freight_changes[0]
        changes = ", ".join(f"{c.kind} {c.stage}".strip() for c in request.changes)
        await self._tell("change_freight", request, f"freight {request.freight[:7]}: {changes}")
        self._state.freight_changes.pop(0)

    async def _wake_warehouses(self) -> None:
        """Applied Warehouses start (or look again) at once, not at their next interval."""
        names = list(self._state.wake)
        try:
            await workflow.execute_activity(
                "wake_warehouses",
                WakeWarehouses(project=self._name, warehouses=names),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retries.TELL,
                summary=f"wake warehouses {', '.join(names)}",
            )
        except ActivityError as err:
            workflow.logger.warning("could not wake warehouses %s: %s", names, err)
        self._state.wake = [n for n in self._state.wake if n not in names]

    def _should_continue_as_new(self) -> bool:
        return continuation.due(self._max_history)

    async def _serve(self, queue: list[Any], work: Callable[[], Awaitable[None]], what: str) -> None:
        """The head of an outbound queue (`work` takes it off); a bug drops that item only."""
        if not queue:
            return
        head = queue[0]
        try:
            await work()
        except Exception as err:
            if not self._bug_to_drop(err, what, head):
                raise
            self._drop_head(queue, head)

    def _bug_to_drop(self, err: Exception, what: str, item: Any) -> bool:
        """False for what is not a bug (cancellation, the SDK's own errors: the caller
        re-raises); a bug is logged, and the caller drops its item (a bug is deterministic:
        trying the item again would fail again and hold up the queue behind it)."""
        if not handles(err, LONG_LIVED_PATCH):
            return False
        log_bug(f"project {self._name}: {what} ({item!r} is dropped)", err)
        return True

    @staticmethod
    def _drop_head(queue: list[Any], item: Any) -> None:
        if queue and queue[0] is item:
            queue.pop(0)

    # -- apply -----------------------------------------------------------------------

    def _merged(self, request: ApplyRequest) -> tuple[ManifestSet, list[str], DeletePlan | None]:
        """The state after the apply, what changed, and what `prune` deletes; raises
        ManifestError, or ValueError when something that stays references what prune deletes."""
        documents = [SourceDocument.model_validate(d) for d in request.documents]
        issues = []
        sourced = []
        for doc in documents:
            try:
                sourced.append(load_sourced(doc, request.default_project))
            except ManifestError as err:
                issues.extend(err.issues)
        if issues:
            raise ManifestError(issues)
        for item in sourced:
            if self._name != "cluster" and item.project not in (None, self._name):
                raise ManifestError(
                    [
                        ManifestIssue(
                            file=item.source.file,
                            line=item.source.line,
                            document=item.source.document,
                            path="metadata.namespace",
                            message=f"belongs to project {item.project!r}, not {self._name!r}",
                        )
                    ]
                )
        current = self._state.manifests
        if request.cluster is not None and self._name != "cluster":
            current = current.with_cluster(ManifestSet.model_validate(request.cluster))
        merged, changes = current.merge_with_changes(sourced)
        pruned = None
        if request.prune and self._name != "cluster":
            kept = [ObjectRef(kind=item.kind, name=item.name) for item in sourced]
            targets = prune_targets(merged.projects.get(self._name), self._name, kept)
            pruned = plan_deletion(merged, self._name, targets)
            if pruned.blockers:
                raise ValueError("cannot prune: " + "; ".join(pruned.problems()))
            merged = without(merged, self._name, pruned)
            changes += [f"{ref.label} pruned" for ref in pruned.deleted]
        validate_set(merged)
        return merged, changes, pruned

    @workflow.update(name="apply", description="Create or replace manifests; the whole set must validate")
    @guard_update
    def apply(self, request: ApplyRequest) -> ApplyResult:
        merged, changes, pruned = self._merged(request)
        before = self._state.manifests.projects.get(self._name)
        self._state.manifests = merged
        after = merged.projects.get(self._name)
        for name, warehouse in (after.warehouses if after else {}).items():  # created or changed: look now
            if (before is None or before.warehouses.get(name) != warehouse) and name not in self._state.wake:
                self._state.wake.append(name)
        if pruned is not None:
            self._forget(pruned)
        if after is not None and any(stage in after.stages for stage in self._state.retire):  # deleted, applied again
            self._state.retire = [stage for stage in self._state.retire if stage not in after.stages]
        return ApplyResult(results=changes)

    @apply.validator
    def validate_apply(self, request: ApplyRequest) -> None:
        if self._state.deleted:
            raise ValueError(f"project {self._name} is being deleted: apply again once it is gone")
        try:
            self._merged(request)
        except ManifestError as err:
            raise ValueError(str(err)) from None

    # -- delete ----------------------------------------------------------------------

    @workflow.update(name="delete", description="Delete objects (a Project: all in it); refused while others reference them")
    @guard_update
    def delete(self, request: DeleteRequest) -> DeleteResult:
        plan = self._deletion(request)
        self._state.manifests = without(self._state.manifests, self._name, plan)
        self._forget(plan)
        return DeleteResult(results=[f"{ref.label} deleted" for ref in plan.deleted])

    @delete.validator
    def validate_delete(self, request: DeleteRequest) -> None:
        self._deletion(request)

    @workflow.query(name="delete_plan", description="What `delete` would delete, or why it would refuse")
    def delete_plan(self, request: DeleteRequest) -> DeleteResult:
        """The dry run of `delete` (a query: a command that only asks leaves no history)."""
        return DeleteResult(results=[f"{ref.label} deleted (dry run)" for ref in self._deletion(request).deleted])

    def _deletion(self, request: DeleteRequest) -> DeletePlan:
        if self._state.deleted:
            raise ValueError(f"project {self._name} is being deleted")
        plan = plan_deletion(self._state.manifests, self._name, request.targets, ignore_missing=request.ignore_not_found)
        if plan.problems():
            raise ValueError("; ".join(plan.problems()))
        return plan

    def _forget(self, plan: DeletePlan) -> None:
        """What this project keeps of deleted objects goes; their workflows are told to end."""
        state = self._state
        for stage in plan.names("Stage"):
            for kept in (state.stage_metadata, state.holds, state.verifications, state.catalog.stages, state.catalog.history):
                kept.pop(stage, None)
            for record in state.catalog.freight.values():  # a catalog of old's Freight
                forget_stage(record, stage)
            if stage in state.hand_over:
                state.hand_over.remove(stage)
            if stage not in state.retire:
                state.retire.append(stage)
        for warehouse in plan.names("Warehouse"):  # woken, it finds itself gone and ends
            if warehouse not in state.wake:
                state.wake.append(warehouse)
        if plan.project:
            state.deleted = True

    # -- freight ---------------------------------------------------------------------

    @workflow.update(name="create_freight", description="Create Freight (idempotent by content)")
    @guard_update
    def create_freight(self, request: FreightCreate) -> dict[str, Any]:
        """Kept as it was (into the catalog, announced from here), and the run loop moves the
        Freight into its FreightWorkflow. Doing it here through an activity (an async handler
        with a patch marker) made histories of update bursts that sdk-core could not replay."""
        freight, created = self._state.catalog.add(request.freight, workflow.now())
        if created and self._name != "cluster":
            self._state.announce.append(freight["name"])
        return freight

    @create_freight.validator
    def validate_create_freight(self, request: FreightCreate) -> None:
        origin = request.freight.get("origin") or {}
        name = origin.get("name")
        project = self._state.manifests.projects.get(self._name)
        if not name or project is None or name not in project.warehouses:
            known = sorted(project.warehouses) if project else []
            raise ValueError(
                f"freight origin Warehouse {name!r} does not exist in project {self._name}"
                + (f" (warehouses: {', '.join(known)})" if known else " (apply a Warehouse first)")
            )
        check_artifacts(request.freight)
        alias = request.freight.get("alias")
        if alias and alias in self._state.catalog.aliases:
            existing = self._state.catalog.aliases[alias]
            raise ValueError(f"alias {alias!r} is already used by freight {existing}")

    async def _to_freight(self, activity: str, request: BaseModel) -> dict[str, Any]:
        """Forward a change of a FreightWorkflow's Freight to the store; its refusal fails the update."""
        try:
            return await workflow.execute_activity(
                activity,
                request,
                result_type=dict,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retries.CHANGE,
                summary=f"{activity} in project {self._name}",
            )
        except ActivityError as err:
            raise ApplicationError(cause_message(err), type="FreightRefused", non_retryable=True) from None

    def _change(self, freight: str, *changes: FreightChange) -> FreightChangeRequest:
        return FreightChangeRequest(project=self._name, freight=freight, changes=list(changes))

    @workflow.update(name="set_freight_alias", description="Change a Freight's alias: {freight, alias}")
    @guard_update
    async def set_freight_alias(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._state.catalog.find(str(request["freight"])) is None:  # a FreightWorkflow's, if any
            alias = FreightChange(kind="alias", alias=str(request["alias"]))
            return await self._to_freight("change_freight", self._change(str(request["freight"]), alias))
        return set_alias(self._state.catalog, request["freight"], request["alias"])

    @set_freight_alias.validator
    def validate_set_freight_alias(self, request: dict[str, Any]) -> None:
        check_alias(str(request.get("alias") or ""))
        freight = self._state.catalog.find(str(request.get("freight", "")))
        owner = self._state.catalog.aliases.get(str(request.get("alias", "")))
        if freight is not None and owner is not None and owner != freight["name"]:
            raise ValueError(f"alias {request['alias']!r} is already used by freight {owner}")

    @workflow.update(name="set_metadata", description="Merge metadata into Stages or Freight: {updates: [...]}")
    @guard_update
    async def set_metadata(self, request: dict[str, Any]) -> dict[str, Any]:
        updates = request.get("updates") or request.get("metadata") or []
        for update in updates:
            values = update.get("values") or {}
            target = self._metadata_target(update)
            if target is None:  # a FreightWorkflow's Freight
                change = FreightChange(kind="metadata", values=values)
                await self._to_freight("change_freight", self._change(str(update.get("name", "")), change))
            else:
                target.update(values)
        return {"updated": len(updates)}

    @set_metadata.validator
    def validate_set_metadata(self, request: dict[str, Any]) -> None:
        for update in request.get("updates") or request.get("metadata") or []:
            self._metadata_target(update)

    def _metadata_target(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """Where the values go here; None for Freight that is not in the catalog of old."""
        kind, name = update.get("kind"), str(update.get("name", ""))
        if kind == "Freight":
            freight = self._state.catalog.find(name)
            if freight is None:
                return None
            return freight.setdefault("status", {}).setdefault("metadata", {})
        if kind == "Stage":
            project = self._state.manifests.projects.get(self._name)
            if project is None or name not in project.stages:
                raise ValueError(f"stage {name!r} does not exist in project {self._name}")
            return self._state.stage_metadata.setdefault(name, {})
        raise ValueError(f"metadata kind must be Stage or Freight, not {kind!r}")

    @workflow.update(name="approve", description="Approve Freight for a Stage: bypasses verification and soak")
    @guard_update
    async def approve(self, request: dict[str, Any]) -> dict[str, Any]:
        actor = request.get("actor") or "unknown"
        if self._state.catalog.find(str(request["freight"])) is None:  # a FreightWorkflow's, if any
            change = freight_rules.approval(str(request["stage"]), actor, workflow.now())
            return await self._to_freight("change_freight", self._change(str(request["freight"]), change))
        return self._state.catalog.approve(request["stage"], request["freight"], actor, workflow.now())

    @approve.validator
    def validate_approve(self, request: dict[str, Any]) -> None:
        project = self._state.manifests.projects.get(self._name)
        if project is None or request.get("stage") not in project.stages:
            raise ValueError(f"stage {request.get('stage')!r} does not exist in project {self._name}")
        if not request.get("freight"):
            raise ValueError("freight must be given")

    def _hold(self, stage: str, origin: str, *, held: bool) -> None:
        holds = self._state.holds.setdefault(stage, [])
        if held and origin not in holds:
            holds.append(origin)
        elif not held and origin in holds:
            holds.remove(origin)

    def _update_hold(self, stage: str, freight_name: str) -> None:
        """Kargo v1.11 holds: a user promoting anything but the newest Freight of an origin
        holds auto-promotion of that origin in the Stage; promoting the newest releases it."""
        freight = self._state.catalog.freight.get(freight_name)
        if freight is None:
            return
        origin = (freight.get("origin") or {}).get("name", "")
        same_origin = [f for f in self._state.catalog.freight.values() if (f.get("origin") or {}).get("name") == origin]
        newest = max(same_origin, key=lambda f: (f.get("discoveredAt") or "", f["name"]))
        holds = self._state.holds.setdefault(stage, [])
        if newest["name"] == freight_name:
            if origin in holds:
                holds.remove(origin)
        elif origin not in holds:
            holds.append(origin)

    @workflow.query(name="auto_promotion_held", description="Is auto-promotion of an origin held in a Stage?")
    def auto_promotion_held(self, request: dict[str, str]) -> bool:
        return request.get("origin", "") in self._state.holds.get(request.get("stage", ""), [])

    @workflow.query(name="auto_promotion", description="Is auto-promotion of an origin on, and not held, in a Stage?")
    def auto_promotion(self, request: AutoPromotionQuery) -> AutoPromotionState:
        project = self._state.manifests.projects.get(self._name)
        stage = project.stages.get(request.stage) if project else None
        if stage is None:
            return AutoPromotionState(exists=False)
        return AutoPromotionState(
            exists=True,
            enabled=auto_promotion_enabled(project.project_config, stage),
            held=request.origin in self._state.holds.get(request.stage, []),
        )

    @workflow.query(name="downstream", description="The Stages with auto-promotion on to tell of available Freight")
    def downstream(self, request: DownstreamRequest) -> list[DownstreamStage]:
        """What `notify_downstream` needs, instead of every manifest (220 KB for 200 Stages)."""
        project = self._state.manifests.projects.get(self._name)
        return stages_to_tell(project, request.origin, request.upstream) if project else []

    @workflow.query(name="verification_history", description="A Stage's verification runs, newest first")
    def verification_history(self, stage: str) -> list[dict[str, Any]]:
        return self._state.verifications.get(stage, [])

    @workflow.query(name="freight_in_use", description="Freight current in a Stage or in a Stage's history window")
    def freight_in_use(self) -> list[str]:
        catalog = self._state.catalog
        names = {current.freight for current in catalog.stages.values()}
        names.update(visit.freight for visits in catalog.history.values() for visit in visits)
        return sorted(names)

    @workflow.query(name="stage_history", description="A Stage's Freight history, newest first")
    def stage_history(self, stage: str) -> list[dict[str, Any]]:
        return [v.model_dump(mode="json") for v in self._state.catalog.history.get(stage, [])]

    @workflow.signal(name="promotion_finished", description="A promotion of this project ended")
    @guard_signal
    def promotion_finished(self, event: PromotionFinished) -> None:
        if event.stage_recorded:  # the Stage keeps its history now: hand it what was kept here
            if event.stage in self._state.verifications or event.stage in self._state.catalog.history:
                if event.stage not in self._state.hand_over:
                    self._state.hand_over.append(event.stage)
        elif event.verification is not None:
            runs = self._state.verifications.setdefault(event.stage, [])
            runs.insert(0, event.verification)
            del runs[VERIFICATIONS_KEPT:]
        if event.phase != "Succeeded":
            return
        catalog = self._state.catalog
        if not (event.auto or event.verify_only):
            if event.newest_of_origin is None:
                self._update_hold(event.stage, event.freight)
            else:
                self._hold(event.stage, event.origin, held=not event.newest_of_origin)
        left = catalog.record_promotion(
            event.stage, event.freight, event.promotion, event.finished_at, keep_history=not event.stage_recorded
        )
        current = catalog.stages[event.stage]
        if event.freight_alias:
            current.alias = event.freight_alias
        elif event.freight in catalog.freight:
            current.alias = catalog.freight[event.freight].get("alias") or ""
        stored = event.freight not in catalog.freight
        moves = [FreightChange(kind="entered", stage=event.stage, at=event.finished_at)]
        if event.verified_at is not None:
            if not stored:
                catalog.mark_verified(event.stage, event.freight, event.verified_at)
            moves.append(FreightChange(kind="verified", stage=event.stage, at=event.verified_at))
            self._state.verified.append(
                FreightVerified(project=self._name, stage=event.stage, freight=event.freight, verified_at=event.verified_at)
            )
        if left is not None and left not in catalog.freight:
            leave = FreightChange(kind="left", stage=event.stage, at=event.finished_at)
            self._state.freight_changes.append(
                FreightChangeRequest(project=self._name, freight=left, changes=[leave], missing_ok=True)
            )
        if stored and not event.freight_recorded:  # a promotion from before FreightWorkflows recorded nothing
            self._state.freight_changes.append(
                FreightChangeRequest(project=self._name, freight=event.freight, changes=moves, missing_ok=True)
            )

    # -- queries ---------------------------------------------------------------------

    @workflow.query(name="manifests", description="Every applied manifest of this project")
    def manifests(self) -> ManifestSet:
        return self._state.manifests

    @workflow.query(name="freight", description="Freight still in the catalog of old (see FreightWorkflow), newest first")
    def freight(self) -> list[dict[str, Any]]:
        items = list(self._state.catalog.freight.values())
        return sorted(items, key=lambda f: f.get("discoveredAt") or "", reverse=True)

    @workflow.query(name="warehouse", description="One applied Warehouse document, or null")
    def warehouse(self, name: str) -> dict[str, Any] | None:
        found = self._state.manifests.warehouse(self._name, name)
        return found.model_dump(mode="json", by_alias=True, exclude_none=True) if found else None

    @workflow.query(name="get_freight", description="One Freight of the catalog of old by name, alias or name prefix")
    def get_freight(self, name_or_alias: str) -> dict[str, Any] | None:
        return self._state.catalog.find(name_or_alias)

    @workflow.query(name="stages", description="Stages with their current Freight")
    def stages(self) -> list[StageView]:
        project = self._state.manifests.projects.get(self._name)
        if project is None:
            return []
        views = []
        for name, stage in sorted(project.stages.items()):
            current = self._state.catalog.stages.get(name)
            freight = self._state.catalog.freight.get(current.freight) if current else None
            alias = (current.alias if current else "") or (freight or {}).get("alias")
            upstream: list[str] = []
            direct = False
            for request in stage.spec.requested_freight:
                upstream.extend(request.sources.stages or [])
                direct = direct or bool(request.sources.direct)
            template = stage.spec.promotion_template
            views.append(
                StageView(
                    name=name,
                    freight=current.freight if current else None,
                    freight_alias=alias or None,
                    since=current.since if current else None,
                    promotion=current.promotion if current else None,
                    upstream=upstream,
                    direct=direct,
                    steps=len(template.spec.steps) if template else 0,
                    verification=stage.spec.verification is not None,
                )
            )
        return views

    @workflow.query(name="promotion_context", description="What a promotion reads at its start")
    def promotion_context(self, request: PromotionContextRequest) -> PromotionContext:
        project = self._state.manifests.projects.get(self._name)
        stage = project.stages.get(request.stage) if project else None
        if stage is None:
            raise ApplicationError(f"stage {request.stage!r} does not exist in project {self._name}", type="NotFound")
        freight = request.record or self._state.catalog.find(request.freight)
        if freight is None:
            raise ApplicationError(
                f"freight {request.freight!r} does not exist in project {self._name}", type="NotFound"
            )
        origins = {(r.origin.kind, r.origin.name) for r in stage.spec.requested_freight}
        origin = freight.get("origin") or {}
        if (origin.get("kind", "Warehouse"), origin.get("name")) not in origins:
            raise ApplicationError(
                f"stage {request.stage} does not request freight from Warehouse {origin.get('name')!r}",
                type="NotFound",
            )
        template = stage.spec.promotion_template
        steps = template.spec.steps if template else []
        tasks = {}
        for step in steps:
            if step.task and step.task.kind == "PromotionTask":
                task = project.promotion_tasks.get(step.task.name)
                if task is not None:
                    tasks[f"PromotionTask/{step.task.name}"] = task.model_dump(by_alias=True, exclude_none=True)
        analysis_templates = {}
        for ref in stage.spec.verification.analysis_templates if stage.spec.verification else []:
            analysis = project.analysis_templates.get(ref.name) if ref.kind == "AnalysisTemplate" else None
            if analysis is not None:
                analysis_templates[f"AnalysisTemplate/{ref.name}"] = analysis.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                )
        return PromotionContext(
            freight=freight,
            analysis_templates=analysis_templates,
            stage=stage.model_dump(mode="json", by_alias=True, exclude_none=True),
            stage_vars=[v.model_dump(by_alias=True, exclude_none=True) for v in stage.spec.vars],
            template_vars=[v.model_dump(by_alias=True, exclude_none=True) for v in template.spec.vars]
            if template
            else [],
            template_steps=[s.model_dump(by_alias=True, exclude_none=True) for s in steps],
            tasks=tasks,
            data=PromotionData(  # all of it: the context activity keeps what the templates name
                stage_metadata=dict(self._state.stage_metadata),
                config_maps={name: dict(cm.data) for name, cm in project.config_maps.items()},
            ),
        )

