"""VerificationWorkflow: one AnalysisRun, measured on durable timers, judged by Argo
Rollouts' rules (`pipeline.analysis`).

A child of the promotion that holds the Stage's lock (or started by `gantry analyze`
without a Stage). Each measurement is an activity of its provider (`measure-prometheus`,
`measure-web`, `measure-job`); between measurements the workflow sleeps on timers whose
summaries read like "error-rate #3 in 30s". Every measurement is kept and queryable.
`abort` ends the run as Failed, "aborted by user"; a cancellation request does the same and the
workflow ends Canceled. A run that is not Successful fails its workflow (workflows/outcomes.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import cancellation, metrics, patches, retries
    from workflows import search_attributes as sa
    from contracts.metrics import PROVIDERS, MeasureRequest, MeasureResult
    from pipeline.analysis import (
        AnalysisPhase,
        AnalysisRunSpec,
        Measurement,
        MetricState,
        assess_metrics,
        assess_run,
        classify,
        next_measurement_at,
    )

MEASURE_TIMEOUT = timedelta(hours=1)
OUTCOME_PATCH = patches.VERIFICATION_OUTCOME.id
#: measurements heartbeat every 2 s (activities/heartbeat.py): a dead worker's is retried after 10 s
MEASURE_HEARTBEAT_TIMEOUT = timedelta(seconds=10)


class VerificationRequest(BaseModel):
    project: str = ""
    stage: str = ""
    freight: str = ""
    promotion: str = ""
    spec: AnalysisRunSpec
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class MetricView(BaseModel):
    name: str
    phase: str
    measurements: list[Measurement] = Field(default_factory=list)
    dry_run: bool = False


class VerificationStatus(BaseModel):
    id: str
    phase: str = "Pending"
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metrics: list[MetricView] = Field(default_factory=list)
    freight: str = ""
    stage: str = ""


def _provider_kind(provider: dict[str, Any]) -> str | None:
    return next((key for key in provider if key in PROVIDERS), None)


def _human(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


@workflow.defn(name="VerificationWorkflow")
class VerificationWorkflow:
    @workflow.init
    def __init__(self, request: VerificationRequest) -> None:
        self._request = request
        self._states = {m.name: MetricState(name=m.name) for m in request.spec.metrics}
        self._abort: str | None = None
        self._cancelled = False
        self._status = VerificationStatus(id=workflow.info().workflow_id, freight=request.freight, stage=request.stage)

    @workflow.signal(name="abort", description="End the verification as Failed, 'aborted by user'")
    def abort(self, reason: str = "") -> None:
        if self._abort is None:
            self._abort = reason or "aborted by user"

    @workflow.query(name="status", description="Phase and every measurement of every metric")
    def status(self) -> VerificationStatus:
        spec = self._request.spec
        phases = assess_metrics(spec.metrics, self._states, spec.dry_run, self._abort is not None)
        self._status.metrics = [
            MetricView(
                name=m.name,
                phase=str(phases.get(m.name, "Pending")),
                measurements=self._states[m.name].measurements,
                dry_run=m.name in spec.dry_run,
            )
            for m in spec.metrics
        ]
        return self._status

    @workflow.run
    async def run(self, request: VerificationRequest) -> VerificationStatus:
        """The run, then its outcome: Completed when Successful, Failed (the status as the
        failure's details) otherwise, Canceled when a cancellation request aborted it."""
        return self._outcome(await cancellation.shielded(self._run(request), self._on_cancel))

    def _on_cancel(self) -> None:
        self._cancelled = True
        self.abort(workflow.cancellation_reason() or "aborted by user (cancelled)")

    def _outcome(self, status: VerificationStatus) -> VerificationStatus:
        if not workflow.patched(OUTCOME_PATCH):
            return status
        workflow.upsert_search_attributes([sa.PHASE.value_set(status.phase)])
        if status.phase == "Successful":
            return status
        if self._cancelled:
            raise asyncio.CancelledError(status.message)
        raise ApplicationError(
            f"{status.phase}: {status.message}", status, type=f"Verification{status.phase}", non_retryable=True
        )

    async def _wait(self, condition, *, timeout: timedelta | None = None, summary: str | None = None) -> None:
        await cancellation.wait(condition, self._on_cancel, timeout=timeout, summary=summary)

    async def _run(self, request: VerificationRequest) -> VerificationStatus:
        spec = request.spec
        status = self._status
        started = status.started_at = workflow.now()
        status.phase = "Running"
        counts = {m.name: 0 for m in spec.metrics}
        while True:
            terminated = self._abort is not None
            verdict = assess_run(spec.metrics, self._states, spec.dry_run, terminated, user_abort=terminated)
            if verdict.phase not in (AnalysisPhase.RUNNING, AnalysisPhase.PENDING):
                break
            now = workflow.now()
            due: list[Any] = []
            wake: datetime | None = None
            for metric in spec.metrics:
                at = next_measurement_at(metric, self._states[metric.name], started, now)
                if at is None:
                    continue
                if at <= now:
                    due.append(metric)
                elif wake is None or at < wake:
                    wake = at
            if due:
                tasks = [asyncio.ensure_future(self._measure(request, metric, counts)) for metric in due]
                await self._wait(lambda: all(t.done() for t in tasks) or self._abort is not None)
                if self._abort is not None:
                    for task in tasks:
                        task.cancel()  # cancels the measuring activity (a job's process group is killed)
                await asyncio.gather(*tasks, return_exceptions=True)
                continue
            if wake is None:  # nothing left to measure: the verdict is final on the next pass
                verdict = assess_run(spec.metrics, self._states, spec.dry_run, True, user_abort=False)
                break
            next_metric = min(
                (m for m in spec.metrics if next_measurement_at(m, self._states[m.name], started, now) == wake),
                key=lambda m: m.name,
            )
            try:
                await self._wait(
                    lambda: self._abort is not None,
                    timeout=wake - now,
                    summary=f"{next_metric.name} #{counts[next_metric.name] + 1} in {_human(wake - now)}",
                )
            except asyncio.TimeoutError:
                pass
        status.phase = str(verdict.phase)
        status.message = verdict.message if not self._abort else self._abort
        status.finished_at = workflow.now()
        workflow.set_current_details(f"**{status.phase}** {status.message}")
        metrics.verification_ended(request.project, request.stage, status.phase)
        return self.status()

    async def _measure(self, request: VerificationRequest, metric: Any, counts: dict[str, int]) -> None:
        counts[metric.name] += 1
        index = counts[metric.name]
        started = workflow.now()
        kind = _provider_kind(metric.provider)
        if kind is None:
            result = MeasureResult(phase="Error", message=f"metric {metric.name}: no supported provider (one of {', '.join(PROVIDERS)})")
        else:
            try:
                result = await workflow.execute_activity(
                    PROVIDERS[kind],
                    MeasureRequest(run=workflow.info().workflow_id, metric=metric.name, provider=metric.provider, index=index - 1),
                    result_type=MeasureResult,
                    start_to_close_timeout=MEASURE_TIMEOUT,
                    heartbeat_timeout=MEASURE_HEARTBEAT_TIMEOUT,
                    retry_policy=retries.CHECK,
                    summary=f"{metric.name} #{index} ({kind})",
                )
            except ActivityError as err:
                cause = err.cause
                result = MeasureResult(phase="Error", message=str(getattr(cause, "message", None) or cause or err))
            except asyncio.CancelledError:
                return  # aborted: the run ends as Failed, "aborted by user"
        if result.phase in ("Successful", "Failed", "Error"):
            phase, message = AnalysisPhase(result.phase), result.message
        else:
            phase, message = classify(result.value, metric.success_condition, metric.failure_condition)
            message = message or result.message
        self._states[metric.name].record(
            Measurement(value=result.value, phase=phase, message=message, started_at=started, finished_at=workflow.now())
        )
        workflow.set_current_details(f"**Running**: {metric.name} #{index}: {phase} {message}"[:2000])
