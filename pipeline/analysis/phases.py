"""Analysis phases and how they rank (Argo Rollouts' AnalysisPhase and its status order).

Ranking follows ``analysisStatusOrder`` in ``utils/analysis/helpers.go`` of
argoproj/argo-rollouts, best first: Successful, Running, Pending, Inconclusive, Error, Failed.
Pure code: safe in Temporal's workflow sandbox.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AnalysisPhase",
    "COMPLETED_PHASES",
    "PHASE_ORDER",
    "is_completed",
    "is_worse",
    "worst",
]


class AnalysisPhase(StrEnum):
    """The phase of a measurement, a metric or a whole run."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"


#: Phases after which nothing more happens (AnalysisPhase.Completed() in Argo Rollouts).
COMPLETED_PHASES = frozenset(
    {AnalysisPhase.SUCCESSFUL, AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE}
)

#: Best to worst. Note that Running ranks better than Pending.
PHASE_ORDER: tuple[AnalysisPhase, ...] = (
    AnalysisPhase.SUCCESSFUL,
    AnalysisPhase.RUNNING,
    AnalysisPhase.PENDING,
    AnalysisPhase.INCONCLUSIVE,
    AnalysisPhase.ERROR,
    AnalysisPhase.FAILED,
)
_RANK = {phase: i for i, phase in enumerate(PHASE_ORDER)}


def is_completed(phase: AnalysisPhase | str | None) -> bool:
    """True for Successful, Failed, Error and Inconclusive."""
    return phase in COMPLETED_PHASES


def _rank(phase: AnalysisPhase | str | None) -> int:
    # As in Argo Rollouts, a phase outside the order (e.g. unset) ranks like Successful.
    try:
        return _RANK[AnalysisPhase(phase)]
    except ValueError:
        return 0


def is_worse(current: AnalysisPhase | str | None, new: AnalysisPhase | str | None) -> bool:
    """True when `new` ranks strictly worse than `current`."""
    return _rank(new) > _rank(current)


def worst(*phases: AnalysisPhase) -> AnalysisPhase:
    """The worst of the given phases (the first of equals); Successful when none are given."""
    result = AnalysisPhase.SUCCESSFUL
    for i, phase in enumerate(phases):
        if i == 0 or is_worse(result, phase):
            result = AnalysisPhase(phase)
    return result
