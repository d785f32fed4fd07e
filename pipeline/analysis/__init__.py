"""Analysis verdicts: Argo Rollouts' AnalysisRun rules as pure functions.

Follows the code of argoproj/argo-rollouts (``utils/evaluate/evaluate.go``,
``analysis/analysis.go``, ``utils/analysis/helpers.go``, ``utils/defaults/defaults.go``)
where it differs from its docs, and Kargo's ``pkg/rollouts`` for building one run from
several templates. No I/O, clock or randomness: safe in Temporal's workflow sandbox;
times are always passed in. See docs/verification.md.
"""

from pipeline.analysis.measurement import Measurement, classify, is_nil_or_empty
from pipeline.analysis.metric import (
    DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    ERROR_RETRY_INTERVAL,
    MetricState,
    RunMetric,
    assess,
    assess_limits,
    next_measurement_at,
)
from pipeline.analysis.phases import (
    COMPLETED_PHASES,
    PHASE_ORDER,
    AnalysisPhase,
    is_completed,
    is_worse,
    worst,
)
from pipeline.analysis.run import ABORTED_MESSAGE, RunVerdict, assess_metrics, assess_run, is_terminating
from pipeline.analysis.templates import (
    AnalysisRunSpec,
    AnalysisSpecError,
    build_run_spec,
    render_deferred_args,
    validate_metric,
)

__all__ = [
    "ABORTED_MESSAGE",
    "COMPLETED_PHASES",
    "DEFAULT_CONSECUTIVE_ERROR_LIMIT",
    "ERROR_RETRY_INTERVAL",
    "PHASE_ORDER",
    "AnalysisPhase",
    "AnalysisRunSpec",
    "AnalysisSpecError",
    "Measurement",
    "MetricState",
    "RunMetric",
    "RunVerdict",
    "assess",
    "assess_limits",
    "assess_metrics",
    "assess_run",
    "build_run_spec",
    "classify",
    "is_completed",
    "is_nil_or_empty",
    "is_terminating",
    "is_worse",
    "next_measurement_at",
    "render_deferred_args",
    "validate_metric",
    "worst",
]
