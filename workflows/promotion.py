"""PromotionWorkflow: one Promotion of one Freight to one Stage.

Each step is an activity named after the step (`git-clone`, `git-push`...), run on the
task queue of the worker that holds the promotion's working directory. If that worker
is lost for good, the promotion claims another worker and runs its steps again from the
first one; the steps are idempotent, so nothing is pushed twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from activities.steps.base import STEP_FAILED, WORKDIR_LOST, StepInput, StepRef, StepResult
    from pipeline.expressions import ExpressionError
    from pipeline.step_rendering import RenderScope, render_config, resolve_vars, step_aliases
    from pipeline.step_summary import progress_table, summarize_step
    from workflows import search_attributes as sa
    from workflows.ids import project_workflow_id
    from workflows.messages import (
        PromotionContext,
        PromotionContextRequest,
        PromotionFinished,
        PromotionRequest,
        PromotionStatus,
        StepExecution,
    )

CATALOG_TIMEOUT = timedelta(seconds=30)


class _MoveWorker(Exception):
    """The working directory is gone with its worker: start the steps again elsewhere."""


@workflow.defn(name="PromotionWorkflow")
class PromotionWorkflow:
    @workflow.init
    def __init__(self, request: PromotionRequest) -> None:
        self._status = PromotionStatus(
            name=workflow.info().workflow_id,
            project=request.project,
            stage=request.stage,
            freight=request.freight,
            actor=request.actor,
        )

    @workflow.query(name="status", description="Phase, current step and every step's execution record")
    def status(self) -> PromotionStatus:
        return self._status

    @workflow.run
    async def run(self, request: PromotionRequest) -> PromotionStatus:
        status = self._status
        status.started_at = workflow.now()
        self._set_phase("Running")
        workflow.upsert_search_attributes(
            [
                sa.PROJECT.value_set(request.project),
                sa.STAGE.value_set(request.stage),
                sa.FREIGHT.value_set(request.freight),
            ]
        )
        try:
            context = await workflow.execute_activity(
                "load_promotion_context",
                PromotionContextRequest(project=request.project, stage=request.stage, freight=request.freight),
                result_type=PromotionContext,
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=CATALOG_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["NotFound"]),
                summary=f"read stage {request.stage} and freight {request.freight}",
            )
        except ActivityError as err:
            return await self._finish(request, "Errored", _cause_message(err))

        freight = context.freight
        status.freight = freight.get("name", request.freight)
        status.freight_alias = freight.get("alias") or ""
        workflow.upsert_search_attributes([sa.FREIGHT.value_set(status.freight)])
        aliases = step_aliases(context.steps)
        status.steps = [
            StepExecution(alias=alias, uses=step.get("uses") or "?") for alias, step in zip(aliases, context.steps)
        ]
        self._publish()
        if not context.steps:
            return await self._finish(request, "Succeeded", "the stage has no promotion steps")

        scope = RenderScope(
            project=request.project,
            stage=request.stage,
            promotion=status.name,
            freight=freight,
            actor=request.actor,
        )
        try:
            base_vars = resolve_vars(scope, context.stage_vars, source=f"Stage/{request.stage}: spec.vars")
            base_vars = resolve_vars(
                scope,
                context.template_vars,
                base=base_vars,
                source=f"Stage/{request.stage}: spec.promotionTemplate.spec.vars",
            )
        except ExpressionError as err:
            return await self._finish(request, "Errored", str(err))

        while True:
            try:
                phase, message = await self._run_steps(request, context, scope, base_vars, aliases)
                break
            except _MoveWorker as moved:
                if status.restarts >= request.options.max_restarts:
                    phase, message = "Errored", f"gave up after {status.restarts} worker changes: {moved}"
                    break
                status.restarts += 1
                workflow.logger.warning("promotion moves to another worker: %s", moved)
                for step in status.steps:
                    step.status, step.message = "Pending", ""
                status.state = {}
        return await self._finish(request, phase, message)

    async def _run_steps(
        self,
        request: PromotionRequest,
        context: PromotionContext,
        scope: RenderScope,
        base_vars: dict[str, Any],
        aliases: list[str],
    ) -> tuple[str, str]:
        status = self._status
        opts = request.options
        queue = await workflow.execute_activity(
            "claim_worker",
            result_type=str,
            task_queue=workflow.info().task_queue,
            start_to_close_timeout=CATALOG_TIMEOUT,
            summary="choose the worker that will hold the working directory",
        )
        status.worker_queue = queue
        try:
            await workflow.execute_activity(
                "prepare_workdir",
                status.name,
                task_queue=queue,
                schedule_to_start_timeout=opts.worker_wait_timeout,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=opts.step_heartbeat_timeout,
                summary="make the working directory",
            )
        except ActivityError as err:
            if _is_worker_lost(err):
                raise _MoveWorker(_cause_message(err)) from err
            return "Errored", _cause_message(err)

        refs = [StepRef(alias=a, uses=s.get("uses") or "") for a, s in zip(aliases, context.steps)]
        for index, (alias, step) in enumerate(zip(aliases, context.steps)):
            record = status.steps[index]
            status.current_step = index
            record.status, record.started_at = "Running", workflow.now()
            source = f"Stage/{request.stage}: spec.promotionTemplate.spec.steps[{index}]"
            try:
                step_vars = resolve_vars(
                    scope, step.get("vars") or [], base=base_vars, outputs=status.state, source=f"{source}.vars"
                )
                config = render_config(
                    scope,
                    step.get("config") or {},
                    vars=step_vars,
                    outputs=status.state,
                    step_statuses={s.alias: s.status for s in status.steps},
                    alias=alias,
                    source=f"{source}.config",
                )
            except ExpressionError as err:
                return self._step_done(record, "Errored", str(err))
            record.summary = summarize_step(record.uses, config)
            self._publish()
            try:
                result: StepResult = await workflow.execute_activity(
                    record.uses,
                    StepInput(
                        promotion=status.name,
                        project=request.project,
                        stage=request.stage,
                        alias=alias,
                        uses=record.uses,
                        config=config,
                        freight=[scope.freight],
                        outputs=status.state,
                        steps=refs,
                    ),
                    result_type=StepResult,
                    task_queue=queue,
                    schedule_to_start_timeout=opts.worker_wait_timeout,
                    start_to_close_timeout=opts.step_timeout,
                    heartbeat_timeout=opts.step_heartbeat_timeout,
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        maximum_attempts=5,
                        non_retryable_error_types=[STEP_FAILED, WORKDIR_LOST],
                    ),
                    summary=record.summary,
                )
            except ActivityError as err:
                if _is_worker_lost(err):
                    raise _MoveWorker(_cause_message(err)) from err
                record.error_count += 1
                phase = "Failed" if _error_type(err) == STEP_FAILED else "Errored"
                return self._step_done(record, phase, _cause_message(err))
            status.state[alias] = result.outputs
            self._step_done(record, result.status, result.message)
            if result.status in ("Failed", "Errored"):
                return result.status, f"step {alias} ({record.uses}): {result.message}"
        status.current_step = None
        await workflow.execute_activity(
            "cleanup_workdir",
            status.name,
            task_queue=queue,
            schedule_to_start_timeout=opts.worker_wait_timeout,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=2),
            summary="remove the working directory",
        )
        return "Succeeded", f"{len(context.steps)} steps succeeded"

    def _step_done(self, record: StepExecution, phase: str, message: str) -> tuple[str, str]:
        record.status = phase  # type: ignore[assignment]
        record.message = message
        record.finished_at = workflow.now()
        self._publish()
        return phase, f"step {record.alias} ({record.uses}): {message}" if phase in ("Failed", "Errored") else message

    def _set_phase(self, phase: str) -> None:
        self._status.phase = phase  # type: ignore[assignment]
        workflow.upsert_search_attributes([sa.PHASE.value_set(phase)])

    def _publish(self) -> None:
        status = self._status
        head = f"**{status.phase}**: freight `{status.freight_alias or status.freight}` to stage `{status.stage}` "
        head += f"of project `{status.project}`"
        workflow.set_current_details(head + "\n\n" + progress_table(status.steps))

    async def _finish(self, request: PromotionRequest, phase: str, message: str) -> PromotionStatus:
        status = self._status
        status.message = message
        status.finished_at = workflow.now()
        status.current_step = None
        self._set_phase(phase)
        self._publish()
        try:
            await workflow.get_external_workflow_handle(project_workflow_id(request.project)).signal(
                "promotion_finished",
                PromotionFinished(
                    promotion=status.name,
                    stage=request.stage,
                    freight=status.freight,
                    phase=status.phase,
                    finished_at=status.finished_at,
                ),
            )
        except Exception as err:  # the project may be gone; the promotion's own record stands
            workflow.logger.warning("could not tell project %s: %s", request.project, err)
        return status


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _is_worker_lost(err: ActivityError) -> bool:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == WORKDIR_LOST:
        return True
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def _cause_message(err: BaseException) -> str:
    cause = err
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[assignment]
    return str(cause) or type(cause).__name__
