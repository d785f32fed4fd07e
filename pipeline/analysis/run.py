"""The phase of a whole AnalysisRun, as ``assessRunStatus`` in ``analysis/analysis.go`` decides it.

- The run is Running until every metric has a verdict.
- Then the worst metric phase wins (order in :mod:`pipeline.analysis.phases`).
- A non-dry-run metric that is Failed, Error or Inconclusive ends the run early: the other
  metrics stop, and those without a verdict count as Successful (``IsTerminating``).
- Dry-run metrics are measured and reported but never change the run's phase nor stop it.
- A run terminated before any verdict is Successful in Argo Rollouts. Kargo (and Gantry)
  report a user's abort as Failed, "aborted by user": pass ``user_abort=True``.

Argo Rollouts reaches an early end over two reconciliations (the metric turns Failed, then
the next pass sees the run terminating); :func:`assess_run` gives the result of both at once.
Pure code.
"""

from __future__ import annotations

from typing import Collection, Mapping, NamedTuple, Sequence

from pipeline.analysis.metric import MetricState, RunMetric, assess, assess_limits
from pipeline.analysis.phases import AnalysisPhase, is_completed, is_worse

__all__ = ["ABORTED_MESSAGE", "RunVerdict", "assess_metrics", "assess_run", "is_terminating"]

ABORTED_MESSAGE = "aborted by user"
TERMINATED_MESSAGE = "run terminated"
_ENDS_RUN = frozenset({AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE})


class RunVerdict(NamedTuple):
    """(phase, message); unpacks as a pair."""

    phase: AnalysisPhase
    message: str


def is_terminating(
    metric_specs: Sequence[RunMetric],
    states: Mapping[str, MetricState],
    dry_run_metrics: Collection[str],
    terminated: bool,
) -> bool:
    """IsTerminating: a terminate was requested, or a non-dry-run metric already ended badly."""
    if terminated:
        return True
    for metric in metric_specs:
        if metric.name in dry_run_metrics:
            continue
        if assess(metric, states.get(metric.name), terminating=False) in _ENDS_RUN:
            return True
    return False


def assess_metrics(
    metric_specs: Sequence[RunMetric],
    states: Mapping[str, MetricState],
    dry_run_metrics: Collection[str],
    terminated: bool,
) -> dict[str, AnalysisPhase]:
    """Each metric's phase, taking an early end of the run into account."""
    terminating = is_terminating(metric_specs, states, dry_run_metrics, terminated)
    return {m.name: assess(m, states.get(m.name), terminating) for m in metric_specs}


def assess_run(
    metric_specs: Sequence[RunMetric],
    states: Mapping[str, MetricState],
    dry_run_metrics: Collection[str],
    terminated: bool,
    *,
    user_abort: bool = False,
) -> RunVerdict:
    """The run's phase and message.

    `states` maps metric name to its state (a missing name: no measurement yet).
    `terminated` is a stop request (Argo's ``spec.terminate``). With `user_abort` (Kargo's
    mapping of an abort) a terminated run is Failed, "aborted by user", whatever was measured.
    """
    if terminated and user_abort:
        return RunVerdict(AnalysisPhase.FAILED, ABORTED_MESSAGE)

    terminating = is_terminating(metric_specs, states, dry_run_metrics, terminated)
    worst: AnalysisPhase | None = None
    message = TERMINATED_MESSAGE if terminated else ""
    everything_completed = True

    for metric in metric_specs:
        state = states.get(metric.name)
        if state is None or not state.measurements:
            # Not started (e.g. still in its initialDelay).
            if not terminating:
                everything_completed = False
                continue
        phase = assess(metric, state, terminating)
        if not is_completed(phase):
            everything_completed = False
            continue
        if metric.name in dry_run_metrics:
            if worst is None:
                worst = AnalysisPhase.SUCCESSFUL
            continue
        if worst is None or is_worse(worst, phase):
            worst = phase
            limit_message = ""
            if state is not None:
                _, limit_message = assess_limits(metric, state)
            if limit_message:
                message = f'metric "{metric.name}" assessed {phase.value}: {limit_message}'
                last = state.last if state is not None else None
                if last is not None and last.message:
                    message += f" (last measurement: {last.message})"

    if terminating:
        # Nothing measured yet but told to stop: Successful, as in Argo Rollouts.
        return RunVerdict(worst or AnalysisPhase.SUCCESSFUL, message)
    if not everything_completed or worst is None:
        return RunVerdict(AnalysisPhase.RUNNING, "")
    return RunVerdict(worst, message)
