"""One metric's counters and phase, as ``analysis/analysis.go`` in argoproj/argo-rollouts keeps them.

- :class:`RunMetric` is a metric of a resolved AnalysisRun (args substituted, numbers parsed).
- :class:`MetricState` holds every measurement and the counters; :meth:`MetricState.record`
  updates them as ``runMeasurements`` does: Successful, Failed and Inconclusive measurements
  increment ``count`` and reset ``consecutive_error``; an Error increments ``error`` and
  ``consecutive_error`` but NOT ``count`` (it is retried after 10 s).
- :func:`assess` is ``assessMetricStatus`` (with ``assessMetricFailureInconclusiveOrError``).
- :func:`next_measurement_at` is ``generateMetricTasks`` / ``calculateNextReconcileTime`` for one
  metric, with the time passed in.

Pure code: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.analysis.measurement import Measurement
from pipeline.analysis.phases import AnalysisPhase, is_completed
from pipeline.durations import parse_duration

__all__ = [
    "DEFAULT_CONSECUTIVE_ERROR_LIMIT",
    "DEFAULT_FAILURE_LIMIT",
    "DEFAULT_INCONCLUSIVE_LIMIT",
    "DEFAULT_CONSECUTIVE_SUCCESS_LIMIT",
    "ERROR_RETRY_INTERVAL",
    "MetricState",
    "RunMetric",
    "assess",
    "assess_limits",
    "next_measurement_at",
]

#: utils/defaults/defaults.go DefaultConsecutiveErrorLimit.
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
DEFAULT_FAILURE_LIMIT = 0
DEFAULT_INCONCLUSIVE_LIMIT = 0
DEFAULT_CONSECUTIVE_SUCCESS_LIMIT = 0
#: analysis/analysis.go DefaultErrorRetryInterval: an Error measurement is retried after this.
ERROR_RETRY_INTERVAL = timedelta(seconds=10)


def _whole_number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        body = text[1:] if text[:1] in "+-" else text
        if body.isascii() and body.isdigit():
            return int(text)
    raise ValueError(f"must be a whole number, got {value!r}")


class RunMetric(BaseModel):
    """A metric of an AnalysisRun, with its `{{ args.* }}` already substituted.

    `provider` is the provider block as plain data, keyed by kind
    (``{"prometheus": {"address": ..., "query": ...}}``). `template` names the template the
    metric came from (for messages).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    template: str = ""
    interval: str | None = None
    initial_delay: str | None = None
    count: int | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: int | None = None
    inconclusive_limit: int | None = None
    consecutive_error_limit: int | None = None
    consecutive_success_limit: int | None = None
    provider: dict[str, Any] = Field(default_factory=dict)

    _int_fields = field_validator(
        "count",
        "failure_limit",
        "inconclusive_limit",
        "consecutive_error_limit",
        "consecutive_success_limit",
        mode="before",
    )(_whole_number)

    @field_validator("interval", "initial_delay")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if parse_duration(value) < timedelta(0):
            raise ValueError(f"invalid duration {value!r}: a duration cannot be negative")
        return value

    # -- defaults (utils/defaults/defaults.go, analysis_types.go) --------------

    @property
    def provider_kind(self) -> str:
        return next(iter(self.provider), "")

    @property
    def effective_count(self) -> int | None:
        """Metric.EffectiveCount: 1 without count and interval; None (indefinite) with interval only."""
        if not self.count:
            return 1 if self.interval is None else None
        return self.count

    @property
    def effective_failure_limit(self) -> int:
        return DEFAULT_FAILURE_LIMIT if self.failure_limit is None else self.failure_limit

    @property
    def effective_inconclusive_limit(self) -> int:
        return DEFAULT_INCONCLUSIVE_LIMIT if self.inconclusive_limit is None else self.inconclusive_limit

    @property
    def effective_consecutive_error_limit(self) -> int:
        if self.consecutive_error_limit is None:
            return DEFAULT_CONSECUTIVE_ERROR_LIMIT
        return self.consecutive_error_limit

    @property
    def effective_consecutive_success_limit(self) -> int:
        if self.consecutive_success_limit is None:
            return DEFAULT_CONSECUTIVE_SUCCESS_LIMIT
        return self.consecutive_success_limit

    @property
    def interval_delta(self) -> timedelta | None:
        return None if self.interval is None else parse_duration(self.interval)

    @property
    def initial_delay_delta(self) -> timedelta | None:
        return None if self.initial_delay is None else parse_duration(self.initial_delay)


class MetricState(BaseModel):
    """Every measurement of one metric and the counters Argo Rollouts keeps in MetricResult."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    name: str = ""
    measurements: list[Measurement] = Field(default_factory=list)
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0

    @property
    def last(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None

    def record(self, measurement: Measurement) -> "MetricState":
        """Add a completed measurement and update the counters (in place; returns self)."""
        phase = measurement.phase
        if not is_completed(phase):
            raise ValueError(f"only completed measurements can be recorded, not {phase.value}")
        if measurement.finished_at is None:
            raise ValueError("a recorded measurement needs finished_at (the caller passes the time)")
        if phase is AnalysisPhase.SUCCESSFUL:
            self.successful += 1
            self.count += 1
            self.consecutive_error = 0
            self.consecutive_success += 1
        elif phase is AnalysisPhase.FAILED:
            self.failed += 1
            self.count += 1
            self.consecutive_error = 0
            self.consecutive_success = 0
        elif phase is AnalysisPhase.INCONCLUSIVE:
            self.inconclusive += 1
            self.count += 1
            self.consecutive_error = 0
            self.consecutive_success = 0
        else:  # Error: retried, not counted
            self.error += 1
            self.consecutive_error += 1
            self.consecutive_success = 0
        self.measurements.append(measurement)
        return self


def assess_limits(metric: RunMetric, state: MetricState) -> tuple[AnalysisPhase | None, str]:
    """assessMetricFailureInconclusiveOrError: which limit is exceeded, if any.

    The three checks run in this order and a later one overrides an earlier one, so when
    several limits are exceeded at once Error beats Inconclusive beats Failed.
    A negative failureLimit (-1) disables the failure check.
    """
    phase: AnalysisPhase | None = None
    message = ""
    failure_limit = metric.effective_failure_limit
    if failure_limit >= 0 and state.failed > failure_limit:
        phase = AnalysisPhase.FAILED
        message = f"failed ({state.failed}) > failureLimit ({failure_limit})"
    inconclusive_limit = metric.effective_inconclusive_limit
    if state.inconclusive > inconclusive_limit:
        phase = AnalysisPhase.INCONCLUSIVE
        message = f"inconclusive ({state.inconclusive}) > inconclusiveLimit ({inconclusive_limit})"
    error_limit = metric.effective_consecutive_error_limit
    if state.consecutive_error > error_limit:
        phase = AnalysisPhase.ERROR
        message = f"consecutiveErrors ({state.consecutive_error}) > consecutiveErrorLimit ({error_limit})"
    return phase, message


def assess(metric: RunMetric, state: MetricState | None, terminating: bool) -> AnalysisPhase:
    """assessMetricStatus: the phase of one metric from its counters.

    `terminating` is true when the run is being stopped (a user's terminate, or another
    non-dry-run metric already Failed, Error or Inconclusive): a metric that has not
    reached a verdict then counts as Successful.
    """
    if state is None or not state.measurements:
        return AnalysisPhase.SUCCESSFUL if terminating else AnalysisPhase.PENDING

    limit_phase, _ = assess_limits(metric, state)
    if limit_phase is not None:
        return limit_phase

    success_limit = metric.effective_consecutive_success_limit
    if success_limit > 0 and state.consecutive_success >= success_limit:
        return AnalysisPhase.SUCCESSFUL

    effective_count = metric.effective_count
    if effective_count is not None and state.count >= effective_count:
        # Neither the failure limit nor the success limit was hit above.
        failure_applies = metric.effective_failure_limit >= 0
        success_applies = success_limit > 0
        if failure_applies and success_applies:
            return AnalysisPhase.INCONCLUSIVE
        if success_applies:
            return AnalysisPhase.FAILED
        # Successful even with some failures, as long as they stayed within failureLimit.
        return AnalysisPhase.SUCCESSFUL

    # Not done yet: runs on (indefinitely, without a count) unless the run is stopping.
    return AnalysisPhase.SUCCESSFUL if terminating else AnalysisPhase.RUNNING


def next_measurement_at(
    metric: RunMetric,
    state: MetricState | None,
    run_started_at: datetime,
    now: datetime,
    *,
    terminating: bool = False,
) -> datetime | None:
    """When the next measurement of `metric` is due, or None when it takes no more.

    - First measurement: at ``run_started_at + initialDelay`` (at once without one).
    - After an Error: 10 s after it finished (whatever the interval).
    - Otherwise: ``interval`` after the last measurement finished.
    - None once the metric has a verdict (count reached, a limit exceeded, success limit
      reached) or the run is terminating.

    A due time already past is returned as `now`, so ``result - now`` is the wait.
    """
    if terminating or is_completed(assess(metric, state, terminating=False)):
        return None
    last = state.last if state is not None else None
    if last is None:
        delay = metric.initial_delay_delta
        due = run_started_at + delay if delay else now
        return max(due, now)
    if last.phase is AnalysisPhase.ERROR:
        wait = ERROR_RETRY_INTERVAL
    else:
        # Without an interval (a count > 1 without interval, which validation refuses)
        # Argo Rollouts' task generation falls back to the error retry interval too.
        wait = metric.interval_delta if metric.interval_delta is not None else ERROR_RETRY_INTERVAL
    finished = last.finished_at or last.started_at or now
    return max(finished + wait, now)
