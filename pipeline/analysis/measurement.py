"""One measurement and its verdict, as ``utils/evaluate/evaluate.go`` (EvaluateResult) decides it.

- No condition at all: Successful (Argo Rollouts' docs say Inconclusive; its code says
  Successful, and Gantry follows the code).
- Only successCondition: Failed when it is false.
- Only failureCondition: Successful when it is false.
- failureCondition true: Failed; both false: Inconclusive; otherwise Successful.
- A condition that cannot be evaluated, or that gives anything but a bool: Error.

Pure code: no I/O and no clock; the caller stamps the times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.analysis.phases import AnalysisPhase
from pipeline.expressions import evaluate_condition

__all__ = ["Measurement", "classify", "is_nil_or_empty"]


class Measurement(BaseModel):
    """One completed measurement of one metric. Gantry keeps every one (no history limit)."""

    model_config = ConfigDict(extra="forbid")

    value: Any = None
    phase: AnalysisPhase
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


def is_nil_or_empty(value: Any) -> bool:
    """No data: nil, or an empty list (a Prometheus query that matched no series)."""
    return value is None or (isinstance(value, (list, tuple)) and len(value) == 0)


def _evaluate(kind: str, condition: str, value: Any) -> tuple[bool | None, str]:
    try:
        return evaluate_condition(condition, value), ""
    except Exception as exc:  # noqa: BLE001 - any evaluation problem makes the measurement Error
        if is_nil_or_empty(value):
            reason = "the metric returned no data (result is nil or empty)"
        else:
            reason = str(exc) or type(exc).__name__
        return None, f"cannot evaluate {kind} {condition!r}: {reason}"


def classify(
    value: Any, success_condition: str | None, failure_condition: str | None
) -> tuple[AnalysisPhase, str]:
    """The phase of one measurement whose result is `value`, and a message (empty unless Error).

    Empty or missing conditions count as absent. The success condition is evaluated first;
    an error in either condition makes the measurement Error.
    """
    has_success = bool(success_condition)
    has_failure = bool(failure_condition)
    success = failure = False
    if has_success:
        ok, message = _evaluate("successCondition", success_condition, value)  # type: ignore[arg-type]
        if ok is None:
            return AnalysisPhase.ERROR, message
        success = ok
    if has_failure:
        ok, message = _evaluate("failureCondition", failure_condition, value)  # type: ignore[arg-type]
        if ok is None:
            return AnalysisPhase.ERROR, message
        failure = ok

    if not has_success and not has_failure:
        return AnalysisPhase.SUCCESSFUL, ""
    if has_success and not has_failure:
        failure = not success
    elif has_failure and not has_success:
        success = not failure

    if failure:
        return AnalysisPhase.FAILED, ""
    if not success:
        return AnalysisPhase.INCONCLUSIVE, ""
    return AnalysisPhase.SUCCESSFUL, ""
