"""PromotionWorkflow: one Promotion of one Freight to one Stage.

Each step is an activity named after the step (`git-clone`, `git-push`...), run on the
task queue of the worker that holds the promotion's working directory. Step semantics
follow Kargo: `if`, implicit skip after a failure, `continueOnError`, `retry`
(consecutive errors and a soft timeout), steps that answer Running are asked again after
a durable timer, and the phase is the worst step phase. If the worker is lost for good,
the promotion claims another worker and runs its steps again from the first one; the
steps are idempotent, so nothing is pushed twice.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TimeoutError,
    TimeoutType,
)

with workflow.unsafe.imports_passed_through():
    from workflows import retries
    from workflows.failures import cause_message
    from contracts.steps import STEP_FAILED, WORKDIR_LOST, WORKER_STOPPED, SecretFields, StepInput, StepRef, StepResult
    from pipeline import step_policies as policy
    from pipeline.availability import freight_availability
    from pipeline.analysis import AnalysisSpecError, build_run_spec
    from pipeline.expressions import verification_env
    from pipeline.manifests import AnalysisTemplate, ClusterAnalysisTemplate, Stage
    from workflows.verification import VerificationRequest, VerificationStatus
    from pipeline.expressions import ExpressionError, render
    from pipeline.promotion_plan import PlannedStep
    from pipeline.step_rendering import RenderScope, render_config, resolve_vars
    from pipeline.step_summary import progress_table, summarize_step
    from workflows import cancellation, metrics, patches
    from workflows.inputs import decode, refuse
    from workflows.outcomes import PROMOTION_ENDED_BADLY, verification_outcome
    from pipeline.inputs import promotion_id_problem
    from workflows import search_attributes as sa
    from pipeline.freight import FreightChange
    from workflows.bugs import PROMOTION_PATCH, describe, handles, log_bug
    from workflows.ids import project_workflow_id, stage_workflow_id, verification_workflow_id
    from workflows.messages import (
        FreightChangeRequest,
        LockRequest,
        StageLockRequest,
        PromotionContext,
        PromotionContextRequest,
        PromotionFinished,
        PromotionRequest,
        PromotionStatus,
        StepExecution,
    )

CATALOG_TIMEOUT = timedelta(seconds=30)
HEALTH_POLL = timedelta(seconds=5)
#: A step whose worker died is sent again this often before the promotion gives up on it.
MAX_WORKER_LOSSES_PER_STEP = 20
NO_RETRY = retries.NO_RETRY
#: a promotion of a FreightWorkflow's Freight records where it is before it ends
FREIGHT_RECORD_PATCH = patches.PROMOTION_RECORDS_FREIGHT.id
#: a promotion that held the lock gives the Stage its record with the lock (`finished`)
STAGE_HISTORY_PATCH = patches.STAGE_KEEPS_HISTORY.id
#: a Failed or Errored promotion fails its workflow; an aborted one by cancellation is Canceled
OUTCOME_PATCH = patches.PROMOTION_OUTCOME.id
#: lock request and worker claim overlap the context's load; clean-up overlaps the Freight's record
OVERLAPS_PATCH = patches.PROMOTION_CONCURRENT_CALLS.id
#: context, lock request, worker claim and the Freight's record are local activities
LOCAL_CALLS_PATCH = patches.PROMOTION_LOCAL_CALLS.id
#: the lock request's answer says whether the lock is ours already (no lock_granted then)
LOCK_ANSWER_PATCH = patches.PROMOTION_LOCK_IN_ANSWER.id
CATALOG_CHANGES = {"set-freight-alias": "freight-alias", "set-metadata": "metadata"}


class _MoveWorker(Exception):
    """The working directory is gone with its worker: start the steps again elsewhere."""


class _Aborted(Exception):
    """A user aborted the promotion."""


class _NotAvailable(Exception):
    """The Freight is not available to the Stage (not verified upstream, soaking...)."""


@workflow.defn(name="PromotionWorkflow")
class PromotionWorkflow:
    @workflow.init
    def __init__(self, raw: RawValue = None) -> None:  # type: ignore[assignment]
        workflow_id = workflow.info().workflow_id
        decoded, self._bad_input = decode(raw, PromotionRequest, "PromotionWorkflow")
        if decoded is not None:
            self._bad_input = promotion_id_problem(workflow_id, decoded.project, decoded.stage) or ""
        request = decoded or PromotionRequest(project="", stage="", freight="")
        self._request = request
        self._status = PromotionStatus(
            name=workflow_id,
            project=request.project,
            stage=request.stage,
            freight=request.freight,
            actor=request.actor,
            dry_run=request.dry_run,
        )
        self._abort: str | None = None
        self._plan: list[PlannedStep] = []
        self._granted = False
        # a place its starter reserved in the lock queue is ours to give back, whatever happens
        self._holds_lock = request.queued and not request.dry_run
        self._stage_has_verification = False
        self._context: PromotionContext | None = None
        self._base_vars: dict[str, Any] = {}
        self._verification_id: str | None = None
        self._verification_record: dict[str, Any] | None = None
        self._cleanup_queue: str | None = None
        self._reported = False  # the project and the Stage were told of the end
        self._cancelled = False  # aborted through Temporal's cancellation: the run ends Canceled
        #: the lock is asked for (request_stage_lock done) and not given back since
        self._lock_requested = False
        #: a worker claimed while the context loaded (OVERLAPS_PATCH), not yet used by the steps
        self._early_claim: asyncio.Future[str] | None = None

    @workflow.query(name="status", description="Phase, current step and every step's execution record")
    def status(self) -> PromotionStatus:
        return self._status

    @workflow.signal(name="abort", description="Abort: the running step is cancelled, the phase is Aborted")
    def abort(self, reason: str = "") -> None:
        if self._abort is None:
            self._abort = reason or "aborted by user"

    @workflow.signal(name="lock_granted", description="The Stage's lock is ours")
    def lock_granted(self, stage: str = "") -> None:
        self._granted = True

    @workflow.run
    async def run(self, raw: RawValue = None) -> PromotionStatus:  # type: ignore[assignment]
        """The promotion, then its outcome as Temporal shows it: Completed when it Succeeded,
        Failed (a non-retryable PromotionFailed/PromotionErrored error carrying the status)
        when it Failed or Errored, Canceled when it was aborted through cancellation.

        A cancellation request is turned into an abort: the running step is cancelled, the
        lock is given back and the project told, as for the `abort` signal (kept for older
        callers; an abort by signal ends Completed with phase Aborted)."""
        if self._bad_input:
            raise refuse(self._bad_input)
        status = await cancellation.shielded(self._guarded(self._request), self._on_cancel)
        return self._outcome(status)

    async def _guarded(self, request: PromotionRequest) -> PromotionStatus:
        """A bug in this code ends it Errored and releases the lock (see :meth:`_end_on_bug`
        and `workflows/bugs.py`) instead of failing the workflow task for ever with the Stage
        locked. Continue-as-new and the SDK's own errors propagate as they always did."""
        try:
            return await self._run(request)
        except Exception as err:
            if not handles(err, PROMOTION_PATCH):
                raise
            return await self._end_on_bug(request, err)

    def _on_cancel(self) -> None:
        reason = workflow.cancellation_reason()
        self._cancelled = True
        self.abort(reason or "aborted by user (cancelled)")

    def _outcome(self, status: PromotionStatus) -> PromotionStatus:
        cancelled = status.phase == "Aborted" and self._cancelled
        if not (cancelled or status.phase in PROMOTION_ENDED_BADLY):
            return status  # Succeeded; or Aborted by the `abort` signal, which cannot end Canceled
        if not workflow.patched(OUTCOME_PATCH):
            return status
        if cancelled:
            raise asyncio.CancelledError(status.message)
        raise ApplicationError(
            f"{status.phase}: {status.message}", status, type=PROMOTION_ENDED_BADLY[status.phase], non_retryable=True
        )

    async def _wait(self, condition, *, timeout: timedelta | None = None, summary: str | None = None) -> None:
        await cancellation.wait(condition, self._on_cancel, timeout=timeout, summary=summary)

    async def _run(self, request: PromotionRequest) -> PromotionStatus:
        status = self._status
        # when the promotion was made (its workflow's start, as visibility lists it), not
        # when its first task ran: `get promotions` and `get promotion` show the same time
        status.started_at = workflow.info().workflow_start_time or workflow.now()
        self._set_phase("Running")
        workflow.upsert_search_attributes(
            [sa.PROJECT.value_set(request.project), sa.STAGE.value_set(request.stage), sa.FREIGHT.value_set(request.freight)]
        )
        try:
            if workflow.patched(OVERLAPS_PATCH):
                context = await self._load_context_overlapped(request)
            else:
                context = await self._load_context(request)
            if not (request.dry_run or request.verify_only):
                context = await self._wait_until_available(request, context)
        except _NotAvailable as unavailable:
            return await self._finish(request, "Failed", str(unavailable))
        except _Aborted:
            return await self._finish(request, "Aborted", self._abort or "aborted by user")
        except ActivityError as err:
            return await self._finish(request, "Errored", cause_message(err))

        freight = context.freight
        self._context = context
        self._stage_has_verification = bool((context.stage.get("spec") or {}).get("verification"))
        status.freight = freight.get("name", request.freight)
        status.freight_alias = freight.get("alias") or ""
        workflow.upsert_search_attributes([sa.FREIGHT.value_set(status.freight)])
        self._plan = context.steps
        status.steps = [StepExecution(alias=s.alias, uses=s.uses, continue_on_error=s.continue_on_error) for s in self._plan]
        self._publish()
        if request.verify_only:
            self._plan, status.steps = [], []

        scope = RenderScope(
            project=request.project, stage=request.stage, promotion=status.name, freight=freight, actor=request.actor,
            data=context.data, rollback=request.rollback,
        )  # fmt: skip
        try:
            base_vars = resolve_vars(scope, context.stage_vars, source=f"Stage/{request.stage}: spec.vars", now=workflow.now())
            base_vars = resolve_vars(
                scope, context.template_vars, base=base_vars,
                source=f"Stage/{request.stage}: spec.promotionTemplate.spec.vars", now=workflow.now(),
            )  # fmt: skip
        except ExpressionError as err:
            return await self._finish(request, "Errored", str(err))
        self._base_vars = base_vars

        try:
            if not request.dry_run:
                await self._acquire_lock(request)
        except _Aborted:
            return await self._finish(request, "Aborted", self._abort or "aborted by user")
        while True:
            try:
                if not self._plan:  # a control-flow Stage, or a re-verification: nothing to run
                    phase = "Succeeded"
                    message = "verification only" if request.verify_only else "the stage has no promotion steps"
                    break
                phase, message = await self._run_steps(request, scope, base_vars)
                break
            except _Aborted:
                phase, message = "Aborted", self._abort or "aborted by user"
                break
            except _MoveWorker as moved:
                if status.restarts >= request.options.max_restarts:
                    phase, message = "Errored", f"gave up after {status.restarts} worker changes: {moved}"
                    break
                status.restarts += 1
                workflow.logger.warning("promotion moves to another worker: %s", moved)
                for step in status.steps:
                    step.status, step.message, step.error_count = "Pending", "", 0
                    step.started_at = step.finished_at = None
                status.state = {}
        verified_at = None
        if phase == "Succeeded" and not request.dry_run:
            try:
                verified_at = await self._verify(request)
            except _Aborted:
                phase, message = "Aborted", self._abort or "aborted by user"
        return await self._finish(request, phase, message, verified_at)

    # -- after the steps: verification ---------------------------------------------------

    async def _verify(self, request: PromotionRequest) -> datetime | None:
        """When the Freight counts as verified in the Stage, or None. The lock is still held.

        Without `verification` (Kargo's implicit verification): at once, unless argocd-update
        ran, in which case once those Applications are Healthy at the desired revision.
        """
        status = self._status
        checks = [
            app
            for outputs in status.state.values()
            if isinstance(outputs, dict) and isinstance(outputs.get("healthCheck"), dict)
            for app in outputs["healthCheck"].get("apps") or []
        ]
        if self._stage_has_verification:
            return await self._run_verification(request)
        if not checks:
            return workflow.now()
        deadline = workflow.now() + request.options.health_timeout
        polls = 0
        while True:
            polls += 1
            health = await workflow.execute_activity(
                "argocd-health",
                checks,
                result_type=dict,
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=CATALOG_TIMEOUT,
                retry_policy=retries.CHECK,
                summary=f"Argo CD health #{polls}",
            )
            status.health, status.verification = health["status"], health["message"]
            self._publish()
            if health["status"] == "Healthy":
                return workflow.now()
            if workflow.now() >= deadline:
                status.verification = f"not verified: Argo CD applications not Healthy after {request.options.health_timeout}: {health['message']}"
                return None
            await self._sleep(HEALTH_POLL, f"Argo CD health #{polls + 1} in {_human(HEALTH_POLL)}")

    async def _run_verification(self, request: PromotionRequest) -> datetime | None:
        """The Stage's AnalysisTemplates as one AnalysisRun, in a VerificationWorkflow child."""
        status, context = self._status, self._context
        stage = Stage.model_validate(context.stage)
        verification = stage.spec.verification
        assert verification is not None
        try:
            templates = []
            for ref in verification.analysis_templates:
                doc = context.analysis_templates.get(f"{ref.kind}/{ref.name}")
                if doc is None:
                    raise AnalysisSpecError(f"{ref.kind} {ref.name!r} does not exist")
                model = ClusterAnalysisTemplate if ref.kind == "ClusterAnalysisTemplate" else AnalysisTemplate
                templates.append(model.model_validate(doc))
            env = verification_env(
                project=request.project, stage=request.stage, freight=[context.freight], vars=self._base_vars,
                now=workflow.now(), data=context.data,
            )  # fmt: skip
            args = {
                arg.name: _as_arg(render(arg.value, env, source=f"Stage/{request.stage}: spec.verification.args[{i}]"))
                for i, arg in enumerate(verification.args)
            }
            spec = build_run_spec(templates, args)
        except (AnalysisSpecError, ExpressionError) as err:
            status.verification = f"Error: {err}"
            return None
        metadata = verification.analysis_run_metadata
        name = status.name.rsplit("/", 1)[-1]
        status.verification = "Running"
        self._publish()
        handle = await workflow.start_child_workflow(
            "VerificationWorkflow",
            VerificationRequest(
                project=request.project, stage=request.stage, freight=status.freight, promotion=status.name, spec=spec,
                labels=dict(metadata.labels) if metadata and metadata.labels else {},
                annotations=dict(metadata.annotations) if metadata and metadata.annotations else {},
            ),
            id=verification_workflow_id(request.project, request.stage, name),
            result_type=VerificationStatus,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PROJECT, request.project),
                    SearchAttributePair(sa.STAGE, request.stage),
                    SearchAttributePair(sa.FREIGHT, status.freight),
                    SearchAttributePair(sa.PHASE, "Running"),
                ]
            ),
            static_summary=f"Verify {status.freight_alias or status.freight[:7]} in {request.stage} ({request.project})",
        )
        self._verification_id = status.verification_id = handle.id
        await self._wait(lambda: handle.done() or self._abort is not None)
        if not handle.done():
            child = workflow.get_external_workflow_handle(handle.id)
            if workflow.patched(OUTCOME_PATCH):
                await child.cancel()  # it ends Canceled, as the promotion does
            else:
                await child.signal("abort", self._abort or "aborted by user")
        try:
            result: VerificationStatus = await handle
        except ChildWorkflowError as err:  # it ended Failed or Canceled: its status is in the failure
            result = verification_outcome(err, handle.id)
        status.verification = f"{result.phase}: {result.message}".rstrip(": ")
        self._verification_record = {
            "id": handle.id, "freight": status.freight, "phase": result.phase, "message": result.message,
            "startedAt": result.started_at.isoformat() if result.started_at else None,
            "finishedAt": result.finished_at.isoformat() if result.finished_at else None,
        }
        return workflow.now() if result.phase == "Successful" else None

    # -- before the steps: context, availability, the stage lock -------------------------

    async def _call(
        self,
        activity: str,
        arg: Any,
        *,
        summary: str,
        retry_policy: Any,
        result_type: type | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        """A short call to the project, the Stage or a Freight, run by the worker running this
        workflow. Since gantry-promotion-local-calls a local activity: no task-queue round trip
        and no workflow task of its own (Temporal Web shows it as a marker); an activity on the
        shared queue before."""
        if workflow.patched(LOCAL_CALLS_PATCH):
            return await workflow.execute_local_activity(
                activity, arg, result_type=result_type, start_to_close_timeout=CATALOG_TIMEOUT,
                retry_policy=retry_policy, summary=summary,
            )  # fmt: skip
        return await workflow.execute_activity(
            activity, arg, result_type=result_type, task_queue=workflow.info().task_queue,
            start_to_close_timeout=CATALOG_TIMEOUT, heartbeat_timeout=heartbeat_timeout, retry_policy=retry_policy,
            summary=summary,
        )  # fmt: skip

    async def _load_context(self, request: PromotionRequest) -> PromotionContext:
        return await self._call(
            "load_promotion_context",
            PromotionContextRequest(
                project=request.project,
                stage=request.stage,
                freight=request.freight,
                holds_unchanged=request.auto or request.verify_only,
            ),
            result_type=PromotionContext,
            retry_policy=retries.LOAD_CONTEXT,
            summary=f"read stage {request.stage}, freight {request.freight} and tasks",
        )

    async def _load_context_overlapped(self, request: PromotionRequest) -> PromotionContext:
        """The context, while the stage lock is asked for and a worker claimed: three round
        trips become one before the first step. Freight found unavailable gives the lock back
        (`_finish`); one that may soak first (`wait_for_soak`) asks for it afterwards, as before."""
        lock = None
        if not (request.dry_run or request.wait_for_soak):
            lock = asyncio.ensure_future(self._request_lock(request))
        if not request.verify_only:
            self._early_claim = asyncio.ensure_future(self._claim_worker(request))
        try:
            return await self._load_context(request)
        finally:
            if lock is not None:
                await lock

    async def _claim_worker(self, request: PromotionRequest) -> str:
        """Choose a worker and make the working directory there; its queue."""
        queue = await self._call(
            "claim_worker",
            self._status.name,
            result_type=str,
            heartbeat_timeout=request.options.step_heartbeat_timeout,
            retry_policy=retries.CHANGE,
            summary="choose a worker and make the working directory there",
        )
        self._status.worker_queue = self._cleanup_queue = queue
        return queue

    async def _unused_claim(self) -> None:
        """A worker claimed early whose steps never ran (aborted, unavailable): wait for the
        claim, so that its working directory is known and removed."""
        claim, self._early_claim = self._early_claim, None
        if claim is not None:
            try:
                await claim
            except ActivityError:
                pass

    def _origin(self) -> str:
        freight = self._context.freight if self._context else {}
        return str((freight.get("origin") or {}).get("name") or "")

    async def _wait_until_available(self, request: PromotionRequest, context: PromotionContext) -> PromotionContext:
        """The availability rule; with wait_for_soak, sleep (durably) until the soak ends."""
        while True:
            stage = Stage.model_validate(context.stage)
            availability = freight_availability(stage, context.freight, workflow.now())
            if availability.available:
                return context
            if not (request.wait_for_soak and availability.soak_until):
                raise _NotAvailable(availability.reason)
            self._status.message = availability.reason
            self._publish()
            await self._release_lock(request)  # a reserved place must not block the Stage while soaking
            await self._sleep(
                availability.soak_until - workflow.now(),
                f"soak of {context.freight.get('alias') or request.freight} ends at {availability.soak_until:%H:%M:%S} UTC",
            )
            context = await self._load_context(request)

    async def _acquire_lock(self, request: PromotionRequest) -> None:
        """Ask the StageWorkflow for the lock and wait for it (an abort gives up the place)."""
        self._status.message = f"waiting for the lock of stage {request.stage}"
        self._publish()
        if not self._lock_requested:
            await self._request_lock(request)
        await self._wait(lambda: self._granted or self._abort is not None, summary=f"wait for stage {request.stage}")
        self._check_abort()
        self._status.message = ""

    async def _request_lock(self, request: PromotionRequest) -> None:
        """Ask the StageWorkflow for the lock (its `lock_granted` signal answers)."""
        answer = workflow.patched(LOCK_ANSWER_PATCH)
        granted = await self._call(
            "request_stage_lock",
            StageLockRequest(
                project=request.project,
                stage=request.stage,
                request=LockRequest(promotion=self._status.name, requested_at=workflow.info().start_time),
                answer=answer,
            ),
            retry_policy=retries.TELL,
            summary=f"ask for the lock of stage {request.stage}",
        )
        self._holds_lock = self._lock_requested = True  # from here on, release it whatever happens
        if answer and granted is True:  # the Stage was free: it sends no lock_granted
            self._granted = True

    async def _tell_project(self, request: PromotionRequest, event: PromotionFinished) -> None:
        try:
            await workflow.get_external_workflow_handle(project_workflow_id(request.project)).signal(
                "promotion_finished", event
            )
        except Exception as err:  # the project may be gone; the promotion's own record stands
            workflow.logger.warning("could not tell project %s: %s", request.project, err)

    async def _cleanup(self, request: PromotionRequest) -> None:
        """Remove the working directory, after the lock is released (it is not on the Stage's path)."""
        if self._cleanup_queue is None:
            return
        queue, self._cleanup_queue = self._cleanup_queue, None
        try:
            await workflow.execute_activity(
                "cleanup_workdir",
                self._status.name,
                task_queue=queue,
                schedule_to_start_timeout=request.options.worker_wait_timeout,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=NO_RETRY,
                summary="remove the working directory",
            )
        except ActivityError:
            workflow.logger.warning("could not remove the working directory of %s", self._status.name)

    async def _release_lock(self, request: PromotionRequest, finished: PromotionFinished | None = None) -> None:
        """Give the Stage's lock back; with `finished`, the Stage records the promotion too."""
        if not self._holds_lock:
            return
        self._holds_lock = self._lock_requested = False
        stage = workflow.get_external_workflow_handle(stage_workflow_id(request.project, request.stage))
        try:
            if finished is not None:
                await stage.signal("finished", finished)
            else:
                await stage.signal("release", self._status.name)
        except Exception as err:  # the stage's liveness check frees it anyway
            workflow.logger.warning("could not release the lock of %s: %s", request.stage, err)

    # -- the steps ---------------------------------------------------------------------

    async def _run_steps(self, request: PromotionRequest, scope: RenderScope, base_vars: dict[str, Any]) -> tuple[str, str]:
        status = self._status
        opts = request.options
        self._check_abort()
        claim, self._early_claim = self._early_claim, None
        try:
            queue = await (claim if claim is not None else self._claim_worker(request))
        except ActivityError as err:
            return "Errored", cause_message(err)

        refs = [StepRef(alias=s.alias, uses=s.uses) for s in self._plan]
        for index, step in enumerate(self._plan):
            self._check_abort()
            record = status.steps[index]
            status.current_step = index
            source = f"Stage/{request.stage}: step {step.alias} ({step.uses})"
            earlier = {
                s.alias: {"status": s.status, "continueOnError": s.continue_on_error} for s in status.steps[:index]
            }
            try:
                step_vars = resolve_vars(
                    scope, step.vars, base=base_vars, outputs=status.state, source=f"{source}: vars", now=workflow.now()
                )
                run = self._should_run(scope, step, step_vars, earlier, source)
            except ExpressionError as err:
                self._step_done(record, "Errored", str(err))
                continue
            if not run:
                self._step_done(record, "Skipped", "")
                continue
            await self._run_step(request, scope, step, record, step_vars, earlier, refs, queue, source)

        status.current_step = None
        counted = [s.status for s in status.steps if not s.continue_on_error]
        phase = policy.worst_phase(counted)
        if request.dry_run and phase == "Succeeded":
            status.diff = await self._on_worker(queue, "workdir_diff", status.name, request, summary="diff of the working directory")
        bad = next((s for s in status.steps if s.status == phase and not s.continue_on_error), None)
        if phase == "Succeeded":
            ran = sum(1 for s in status.steps if s.status == "Succeeded")
            return phase, f"{ran} of {len(status.steps)} steps succeeded" + (" (dry run)" if request.dry_run else "")
        return phase, f"step {bad.alias} ({bad.uses}): {bad.message}" if bad else phase

    def _should_run(
        self, scope: RenderScope, step: PlannedStep, step_vars: dict[str, Any], earlier: dict[str, Any], source: str
    ) -> bool:
        """Kargo's `if`: a bool expression; without one, skip once a counted step failed."""
        if step.if_ is None or step.if_ == "":
            return not any(
                v["status"] in ("Failed", "Errored", "Aborted") and not v["continueOnError"] for v in earlier.values()
            )
        env = scope.env(
            vars=step_vars, outputs=self._status.state, step_statuses=earlier, alias=step.alias, now=workflow.now()
        )
        text = step.if_ if "${{" in step.if_ or "${%" in step.if_ else "${{ " + step.if_ + " }}"
        value = render(text, env, source=f"{source}: if")
        if not isinstance(value, bool):
            raise ExpressionError(f"`if` must be true or false, got {value!r}", expression=step.if_, source=f"{source}: if")
        return value

    async def _run_step(
        self,
        request: PromotionRequest,
        scope: RenderScope,
        step: PlannedStep,
        record: StepExecution,
        step_vars: dict[str, Any],
        earlier: dict[str, Any],
        refs: list[StepRef],
        queue: str,
        source: str,
    ) -> None:
        status = self._status
        threshold = policy.error_threshold(step.uses, step.retry)
        timeout = policy.step_timeout(step.uses, step.retry)
        record.status, record.started_at = "Running", workflow.now()
        consecutive_errors = 0
        worker_losses = 0
        polls = 0
        while True:
            now = workflow.now()
            secret_paths: list[list[str | int]] = []
            try:
                config = render_config(
                    scope, step.config, vars=step_vars, outputs=status.state, step_statuses=earlier,
                    alias=step.alias, source=f"{source}: config", now=now, secret_paths=secret_paths,
                )  # fmt: skip
            except ExpressionError as err:
                self._step_done(record, "Errored", str(err))
                return
            record.summary = summarize_step(step.uses, config)
            if request.dry_run:
                record.config = config
                if step.uses in policy.OUTWARD_STEPS:
                    self._step_done(record, "Skipped", "dry run: not run")
                    return
            self._publish()
            try:
                result: StepResult = await self._on_worker(
                    queue,
                    step.uses,
                    StepInput(
                        promotion=status.name, project=request.project, stage=request.stage, alias=step.alias,
                        uses=step.uses, config=config, freight=[scope.freight], outputs=status.state, steps=refs,
                        secrets=SecretFields(
                            paths=secret_paths, vars=step_vars, step_statuses=earlier, actor=request.actor, now=now,
                            data=scope.data, rollback=request.rollback,
                        ) if secret_paths else None,
                    ),
                    request,
                    summary=record.summary + (f" (poll {polls + 1})" if polls else ""),
                    result_type=StepResult,
                    heartbeat=True,
                )  # fmt: skip
            except ActivityError as err:
                if _is_worker_lost(err):
                    raise _MoveWorker(cause_message(err)) from err
                if (_is_heartbeat_timeout(err) or _error_type(err) == WORKER_STOPPED) and (
                    worker_losses < MAX_WORKER_LOSSES_PER_STEP
                ):
                    worker_losses += 1  # the worker died or stopped mid-step: not the step's fault; ask again
                    continue
                if _error_type(err) == STEP_FAILED:
                    record.error_count += 1
                    self._step_done(record, "Failed", cause_message(err))
                    return
                consecutive_errors += 1
                record.error_count += 1
                record.message = cause_message(err)
                if consecutive_errors >= threshold:
                    self._step_done(record, "Errored", cause_message(err))
                    return
                if self._timed_out(record, timeout):
                    self._step_done(record, "Errored", f"step timed out after {timeout}: {cause_message(err)}")
                    return
                await self._sleep(policy.error_backoff(consecutive_errors), f"{step.alias}: retry after error")
                continue
            consecutive_errors = 0
            if result.status == "Running":
                polls += 1
                record.message = result.message
                if self._timed_out(record, timeout):
                    self._step_done(record, "Errored", f"step timed out after {timeout}: {result.message}")
                    return
                interval = policy.next_poll(step.uses, config, result.poll_after)
                waiting = f": {result.message}" if result.message else ""
                await self._sleep(interval, f"{step.alias} #{polls + 1} in {_human(interval)}{waiting}"[:390])
                continue
            status.state[step.alias] = result.outputs
            if step.uses == "compose-output" and step.task_alias:
                status.state.setdefault(step.task_alias, {}).update(result.outputs)
            if step.uses in CATALOG_CHANGES and result.status == "Succeeded":
                message = await self._change_catalog(request, step.uses, result.outputs)
                if message:
                    self._step_done(record, "Failed", message)
                    return
                if step.uses == "set-metadata":
                    scope.data.apply_metadata(result.outputs.get("metadata") or [])
            self._step_done(record, result.status, result.message)
            return

    async def _on_worker(
        self,
        queue: str,
        activity: str,
        arg: Any,
        request: PromotionRequest,
        *,
        summary: str,
        result_type: type | None = None,
        heartbeat: bool = False,
    ) -> Any:
        """Run an activity on the worker holding the working directory; abort cancels it."""
        opts = request.options
        handle = workflow.start_activity(
            activity,
            arg,
            result_type=result_type,
            task_queue=queue,
            schedule_to_start_timeout=opts.worker_wait_timeout,
            start_to_close_timeout=opts.step_timeout,
            heartbeat_timeout=opts.step_heartbeat_timeout,
            retry_policy=NO_RETRY,
            summary=summary[:390],
        )
        await self._wait(lambda: handle.done() or self._abort is not None)
        if not handle.done():
            handle.cancel()
            try:
                await handle
            except (ActivityError, CancelledError, asyncio.CancelledError):
                pass
            raise _Aborted()
        return handle.result()

    async def _change_catalog(self, request: PromotionRequest, uses: str, outputs: dict[str, Any]) -> str:
        """Apply set-freight-alias / set-metadata to the project; returns an error message or ''."""
        if request.dry_run:
            return ""
        data = outputs.get("freightAlias") if uses == "set-freight-alias" else {"updates": outputs.get("metadata") or []}
        try:
            await workflow.execute_activity(
                "change_catalog",
                {"project": request.project, "kind": CATALOG_CHANGES[uses], "data": data},
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=CATALOG_TIMEOUT,
                retry_policy=retries.CATALOG_CHANGE,
                summary=f"{uses}: update the project catalog",
            )
        except ActivityError as err:
            return cause_message(err)
        return ""

    # -- helpers -----------------------------------------------------------------------

    def _check_abort(self) -> None:
        if self._abort is not None:
            raise _Aborted()

    async def _sleep(self, interval: timedelta, summary: str) -> None:
        """A durable timer that an abort cuts short."""
        try:
            await self._wait(lambda: self._abort is not None, timeout=interval, summary=summary)
        except asyncio.TimeoutError:
            pass
        self._check_abort()

    def _timed_out(self, record: StepExecution, timeout: timedelta | None) -> bool:
        return bool(timeout and record.started_at and workflow.now() - record.started_at >= timeout)

    def _step_done(self, record: StepExecution, phase: str, message: str) -> None:
        record.status = phase  # type: ignore[assignment]
        record.message = message
        record.finished_at = workflow.now()
        if record.started_at is None:
            record.started_at = record.finished_at
        metrics.step_ended(record.uses, phase, record.started_at, record.finished_at)
        self._publish()

    def _set_phase(self, phase: str) -> None:
        self._status.phase = phase  # type: ignore[assignment]
        workflow.upsert_search_attributes([sa.PHASE.value_set(phase)])

    def _publish(self) -> None:
        status = self._status
        head = f"**{status.phase}**{' (dry run)' if status.dry_run else ''}: freight "
        head += f"`{status.freight_alias or status.freight}` to stage `{status.stage}` of project `{status.project}`"
        workflow.set_current_details(head + "\n\n" + progress_table(status.steps))

    async def _finish(
        self, request: PromotionRequest, phase: str, message: str, verified_at: datetime | None = None
    ) -> PromotionStatus:
        status = self._status
        status.message = message
        status.finished_at = workflow.now()
        status.current_step = None
        for step in status.steps:
            if step.status == "Running":
                step.status, step.finished_at = ("Aborted" if phase == "Aborted" else "Errored"), status.finished_at
            elif step.status == "Pending" and phase == "Aborted":
                step.status, step.message = "Skipped", "the promotion was aborted"
        self._set_phase(phase)
        self._publish()
        if request.dry_run:
            return status
        metrics.promotion_ended(request.project, request.stage, phase)
        if phase == "Succeeded" and self._context is not None and not request.verify_only:
            metrics.freight_lead_time(request.project, request.stage, self._context.freight.get("discoveredAt"), status.finished_at)
        status.verified_at = verified_at
        event = PromotionFinished(
            promotion=status.name, stage=request.stage, freight=status.freight, phase=status.phase,
            finished_at=status.finished_at, verified_at=verified_at, actor=request.actor, auto=request.auto,
            verify_only=request.verify_only, verification=self._verification_record,
            origin=self._origin(), freight_alias=status.freight_alias,
            newest_of_origin=self._context.newest_of_origin if self._context else None,
        )  # fmt: skip
        cleanup = None
        if workflow.patched(OVERLAPS_PATCH):  # the working directory goes while the Freight is recorded
            await self._unused_claim()
            cleanup = asyncio.ensure_future(self._cleanup(request))
        if phase == "Succeeded" and self._context is not None and self._context.stored and not self._reported:
            event.freight_recorded = await self._record_freight(request, event)
        # the Stage keeps its own history: the event goes with the lock's release
        event.stage_recorded = self._holds_lock and not self._reported and workflow.patched(STAGE_HISTORY_PATCH)
        # Both signals leave in this one workflow task, in this order: the project hears of this
        # promotion before the next holder of the lock can start.
        if not self._reported:  # told once, even when a bug after this point ends it again
            self._reported = True
            finished = event if event.stage_recorded else None
            await asyncio.gather(self._tell_project(request, event), self._release_lock(request, finished))
        else:
            await self._release_lock(request)  # a no-op unless a bug cut the first attempt short
        await (cleanup if cleanup is not None else self._cleanup(request))  # the project tells the Stages downstream
        return status

    async def _record_freight(self, request: PromotionRequest, event: PromotionFinished) -> bool:
        """The Freight is now in the Stage (and verified there, if it was), recorded on its
        FreightWorkflow before the promotion ends, so whoever reads it after sees it (the next
        promotion's availability check above all). False leaves it to the project (a history
        from before FreightWorkflows, or the activity failed)."""
        if not workflow.patched(FREIGHT_RECORD_PATCH):
            return False
        changes = [FreightChange(kind="entered", stage=request.stage, at=event.finished_at)]
        if event.verified_at is not None:
            changes.append(FreightChange(kind="verified", stage=request.stage, at=event.verified_at))
        try:
            await self._call(
                "change_freight",
                FreightChangeRequest(project=request.project, freight=event.freight, changes=changes, missing_ok=True),
                retry_policy=retries.CHANGE,
                summary=f"freight {self._status.freight_alias or event.freight[:7]} is in {request.stage}",
            )
        except ActivityError as err:
            workflow.logger.warning("could not record freight %s in %s (the project will): %s", event.freight, request.stage, err)
            return False
        return True

    async def _end_on_bug(self, request: PromotionRequest, err: Exception) -> PromotionStatus:
        """A bug in this workflow's code: end Errored with a message naming it, telling the
        project and the Stage as any Errored promotion does (:meth:`_finish`). Should ending
        fail as well, the lock is still given back and the workflow fails (not its task), so
        the Stage moves on either way."""
        held = self._holds_lock
        message = f"internal error: {describe(err)} (a bug in Gantry; the promotion was ended"
        message += " and the Stage's lock released)" if held else ")"
        log_bug(f"promotion {self._status.name}", err)
        index = self._status.current_step
        if index is not None and 0 <= index < len(self._status.steps):  # the step it was at
            step = self._status.steps[index]
            if step.status in ("Pending", "Running"):
                step.status, step.message = "Errored", message
                step.started_at = step.started_at or workflow.now()
                step.finished_at = workflow.now()
        try:
            return await self._finish(request, "Errored", message)
        except Exception as again:
            if not handles(again, PROMOTION_PATCH):
                raise
            log_bug(f"ending promotion {self._status.name}", again)
            try:
                await self._release_lock(request)  # a no-op when _finish released it already
            except Exception as last:  # the Stage's liveness check frees it once this run ends
                if not handles(last, PROMOTION_PATCH):
                    raise
            raise ApplicationError(
                f"{message}; ending it failed too: {describe(again)}", type="InternalError", non_retryable=True
            ) from None


def _as_arg(value: Any) -> str:
    """Argo args are strings: render other JSON values as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _human(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _is_worker_lost(err: ActivityError) -> bool:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == WORKDIR_LOST:
        return True
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def _is_heartbeat_timeout(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.HEARTBEAT
