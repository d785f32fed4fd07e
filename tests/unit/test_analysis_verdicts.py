"""Verdict table for pipeline.analysis: every case cites the Argo Rollouts rule it checks.

Citations name a file and function of argoproj/argo-rollouts (@9f8d111). Where Argo's docs
and code differ, the code wins (see docs/verification.md).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest

from pipeline.analysis import (
    AnalysisPhase,
    Measurement,
    MetricState,
    RunMetric,
    assess,
    assess_run,
    classify,
    is_worse,
    worst,
)
from pipeline.analysis.phases import PHASE_ORDER

S, F, I, E = (
    AnalysisPhase.SUCCESSFUL,
    AnalysisPhase.FAILED,
    AnalysisPhase.INCONCLUSIVE,
    AnalysisPhase.ERROR,
)
RUNNING, PENDING = AnalysisPhase.RUNNING, AnalysisPhase.PENDING
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)

EVAL = "utils/evaluate/evaluate.go EvaluateResult"
EVAL_ERR = "utils/evaluate/evaluate.go EvaluateResult + EvalCondition (error / non-bool)"
LIMITS = "analysis/analysis.go assessMetricFailureInconclusiveOrError"
METRIC = "analysis/analysis.go assessMetricStatus"
COUNTERS = "analysis/analysis.go runMeasurements (counter updates)"
EFFECTIVE = "pkg/apis/rollouts/v1alpha1/analysis_types.go Metric.EffectiveCount"
ERRLIMIT = "utils/defaults/defaults.go GetConsecutiveErrorLimitOrDefault"
RUN = "analysis/analysis.go assessRunStatus"
TERMINATING = "utils/analysis/helpers.go IsTerminating + analysis/analysis.go assessRunStatus"
ORDER = "utils/analysis/helpers.go analysisStatusOrder / IsWorse"


def metric(**kw: Any) -> RunMetric:
    kw.setdefault("name", "m")
    kw.setdefault("provider", {"web": {"url": "http://127.0.0.1/"}})
    return RunMetric(**kw)


def state_of(phases: list[AnalysisPhase], name: str = "m") -> MetricState:
    state = MetricState(name=name)
    for i, phase in enumerate(phases):
        at = T0 + timedelta(seconds=30 * i)
        state.record(Measurement(value=i, phase=phase, started_at=at, finished_at=at + timedelta(seconds=1)))
    return state


# ---------------------------------------------------------------------------
# Table 1: one measurement (classify)
# ---------------------------------------------------------------------------


class C(NamedTuple):
    id: str
    value: Any
    success: str | None
    failure: str | None
    expected: AnalysisPhase
    cite: str


CLASSIFY = [
    C("no-conditions-successful", 0.9, None, None, S, EVAL + ": both empty -> Successful (docs say Inconclusive)"),
    C("no-conditions-nil-result", None, None, None, S, EVAL + ": both empty -> Successful, nothing evaluated"),
    C("empty-strings-are-absent", 0.9, "", "", S, EVAL + ": a condition is set only when != \"\""),
    C("success-only-true", [0.01], "result[0] < 0.05", None, S, EVAL + ": success-only, true"),
    C("success-only-false", [0.2], "result[0] < 0.05", None, F, EVAL + ": success-only, fail = !success"),
    C("failure-only-true", 7, None, "result > 5", F, EVAL + ": failure true -> Failed"),
    C("failure-only-false", 3, None, "result > 5", S, EVAL + ": failure-only, success = !fail"),
    C("both-success", 1, "result == 1", "result == 0", S, EVAL + ": success true, failure false"),
    C("both-false-inconclusive", 2, "result == 1", "result == 0", I, EVAL + ": neither true -> Inconclusive"),
    C("both-true-failure-wins", 1, "result >= 1", "result <= 1", F, EVAL + ": failure checked first"),
    C("success-false-failure-true", 0, "result == 1", "result == 0", F, EVAL + ": failure true -> Failed"),
    C("empty-vector-is-error", [], "result[0] < 0.05", None, E, EVAL_ERR + ": nil or empty result"),
    C("nil-result-is-error", None, "result > 1", None, E, EVAL_ERR + ": evaluation error"),
    C("non-bool-success-is-error", 5, "result", None, E, EVAL_ERR + ": expected bool"),
    C("non-bool-failure-is-error", 5, None, "result + 1", E, EVAL_ERR + ": expected bool"),
    C("failure-error-with-good-success", 5, "result > 1", "result.x.y > 1", E, EVAL_ERR + ": failureCondition error"),
    C("syntax-error", 5, "result >", None, E, EVAL_ERR + ": compile error"),
    C("isNil-on-nil", None, "isNil(result)", None, S, "utils/evaluate/evaluate.go isNilFunc"),
    C("default-on-nil", None, "default(result, 0) < 1", None, S, "utils/evaluate/evaluate.go defaultFunc"),
    C("nan-compare-false", math.nan, "result < 0.05", None, F, EVAL + " (NaN < x is false)"),
    C("isNaN-helper", math.nan, None, "isNaN(result)", F, "utils/evaluate/evaluate.go EvalCondition isNaN"),
    C("asFloat-on-string", "0.01", "asFloat(result) < 0.05", None, S, "utils/evaluate/evaluate.go asFloat"),
    C("asInt-on-bad-string", "x", "asInt(result) > 0", None, E, "utils/evaluate/evaluate.go asInt (parse error)"),
]


@pytest.mark.parametrize("case", CLASSIFY, ids=[c.id for c in CLASSIFY])
def test_classify(case: C) -> None:
    phase, message = classify(case.value, case.success, case.failure)
    assert phase is case.expected, case.cite
    assert bool(message) == (phase is E), message


def test_classify_empty_result_message_says_no_data() -> None:
    _, message = classify([], "result[0] < 0.05", None)
    assert "no data" in message and "successCondition" in message and "result[0] < 0.05" in message


# ---------------------------------------------------------------------------
# Table 2: one metric (record + assess)
# ---------------------------------------------------------------------------


class M(NamedTuple):
    id: str
    spec: dict[str, Any]
    phases: list[AnalysisPhase]
    terminating: bool
    expected: AnalysisPhase
    cite: str


IV = {"interval": "30s"}
C5 = {"interval": "30s", "count": 5}

METRICS = [
    M("no-measurement-pending", {}, [], False, PENDING, METRIC + ": no measurements -> Pending"),
    M("single-success", {}, [S], False, S, EFFECTIVE + ": no count/interval -> count 1"),
    M("single-failure", {}, [F], False, F, LIMITS + ": failed 1 > failureLimit 0 (default)"),
    M("single-inconclusive", {}, [I], False, I, LIMITS + ": inconclusive 1 > inconclusiveLimit 0 (default)"),
    M("one-error-retried", {}, [E], False, RUNNING, COUNTERS + ": Error does not increment count"),
    M("four-errors-still-running", {}, [E] * 4, False, RUNNING, ERRLIMIT + ": default 4, 4 > 4 is false"),
    M("five-errors-error", {}, [E] * 5, False, E, LIMITS + ": consecutiveError 5 > 4"),
    M("error-limit-zero", {"consecutive_error_limit": 0}, [E], False, E, ERRLIMIT + ": explicit 0"),
    M("error-limit-two", {"consecutive_error_limit": 2}, [E, E], False, RUNNING, LIMITS + ": 2 > 2 is false"),
    M("errors-then-success", {}, [E, E, E, E, S], False, S, COUNTERS + ": success resets consecutiveError"),
    M("errors-reset-then-more", {**IV, "count": 2}, [E] * 4 + [S] + [E] * 4, False, RUNNING,
      COUNTERS + ": consecutiveError counts since the last non-error"),
    M("errors-not-consecutive", {**IV, "count": 3}, [E, E, E, S, E, E, E, E, S], False, RUNNING,
      LIMITS + ": total errors 7 but consecutive 4"),
    M("count-not-reached", C5, [S, S], False, RUNNING, METRIC + ": count 2 < 5"),
    M("count-reached-all-success", C5, [S] * 5, False, S, METRIC + ": count reached -> Successful"),
    M("count-reached-failures-within-limit", {**C5, "failure_limit": 2}, [F, F, S, S, S], False, S,
      METRIC + ": Successful at count even with failures <= failureLimit"),
    M("failure-limit-exceeded-early", {**C5, "failure_limit": 2}, [F, F, F], False, F,
      LIMITS + ": failed 3 > 2 before count"),
    M("failure-limit-not-yet", {**C5, "failure_limit": 2}, [F, F], False, RUNNING, LIMITS + ": failed 2 > 2 is false"),
    M("failure-limit-disabled-running", {**C5, "failure_limit": -1, "consecutive_success_limit": 2},
      [F, F, F, F], False, RUNNING, LIMITS + ": failureLimit -1 disables the failure check"),
    M("failure-disabled-count-reached-fails", {**C5, "failure_limit": -1, "consecutive_success_limit": 2},
      [F, S, F, S, F], False, F, METRIC + ": count reached, only success limit applies -> Failed"),
    M("success-limit-reached-early", {**C5, "consecutive_success_limit": 2}, [S, S], False, S,
      METRIC + ": consecutiveSuccess >= consecutiveSuccessLimit"),
    M("success-limit-after-failure", {**C5, "failure_limit": 2, "consecutive_success_limit": 3},
      [F, S, S, S], False, S, METRIC + ": consecutive successes counted after the failure"),
    M("success-and-failure-limits-missed", {**C5, "failure_limit": 2, "consecutive_success_limit": 3},
      [S, F, S, S, F], False, I, METRIC + ": count reached, both limits apply, neither hit -> Inconclusive"),
    M("inconclusive-within-limit", {**IV, "count": 3, "inconclusive_limit": 1}, [I, S], False, RUNNING,
      LIMITS + ": inconclusive 1 > 1 is false"),
    M("inconclusive-over-limit", {**IV, "count": 3, "inconclusive_limit": 1}, [I, I], False, I,
      LIMITS + ": inconclusive 2 > 1"),
    M("inconclusive-overrides-failed", C5, [F, I], False, I, LIMITS + ": later check overrides earlier"),
    M("error-overrides-inconclusive-and-failed", C5, [F, I] + [E] * 5, False, E,
      LIMITS + ": consecutiveError check is last"),
    M("indefinite-keeps-running", IV, [S] * 20, False, RUNNING, EFFECTIVE + ": interval, no count -> nil"),
    M("indefinite-terminated-successful", IV, [S] * 3, True, S, METRIC + ": runs indefinitely, terminating"),
    M("indefinite-fails-on-failure", IV, [S, F], False, F, LIMITS + ": failureLimit applies without count"),
    M("count-zero-with-interval-indefinite", {**IV, "count": 0}, [S] * 7, False, RUNNING,
      EFFECTIVE + ": count 0 counts as unset"),
    M("count-zero-without-interval-is-one", {"count": 0}, [S], False, S, EFFECTIVE + ": count 0 and no interval -> 1"),
    M("terminating-no-measurement", C5, [], True, S, METRIC + ": none taken but told to stop -> Successful"),
    M("terminating-count-not-reached", C5, [S, S], True, S, METRIC + ": terminating before count -> Successful"),
    M("terminating-keeps-failure", C5, [F], True, F, METRIC + ": limits checked before terminating"),
    M("terminating-keeps-error", C5, [E] * 5, True, E, METRIC + ": limits checked before terminating"),
    M("count-from-string", {**IV, "count": "3"}, [S, S, S], False, S, EFFECTIVE + ": IntOrString count"),
]


@pytest.mark.parametrize("case", METRICS, ids=[c.id for c in METRICS])
def test_metric_phase(case: M) -> None:
    spec = metric(**case.spec)
    state = state_of(case.phases)
    assert assess(spec, state, case.terminating) is case.expected, case.cite


def test_counters_follow_run_measurements() -> None:
    # analysis/analysis.go runMeasurements: Error -> error++, consecutiveError++, no count.
    state = state_of([S, E, E, F, I, E, S, S])
    assert (state.count, state.successful, state.failed, state.inconclusive, state.error) == (5, 3, 1, 1, 3)
    assert (state.consecutive_error, state.consecutive_success) == (0, 2)
    assert len(state.measurements) == 8


def test_record_refuses_unfinished_measurements() -> None:
    with pytest.raises(ValueError):
        MetricState().record(Measurement(phase=RUNNING, finished_at=T0))
    with pytest.raises(ValueError):
        MetricState().record(Measurement(phase=S))


# ---------------------------------------------------------------------------
# Table 3: the run (assess_run)
# ---------------------------------------------------------------------------


class R(NamedTuple):
    id: str
    metrics: dict[str, tuple[dict[str, Any], list[AnalysisPhase]]]
    dry_run: set[str]
    terminated: bool
    expected: AnalysisPhase
    cite: str


RUNS = [
    R("all-successful", {"a": ({}, [S]), "b": ({}, [S])}, set(), False, S, RUN + ": all complete, worst Successful"),
    R("one-still-running", {"a": ({}, [S]), "b": (C5, [S])}, set(), False, RUNNING, RUN + ": not everything completed"),
    R("one-not-started", {"a": ({}, [S]), "b": ({"initial_delay": "5m"}, [])}, set(), False, RUNNING,
      RUN + ": metric without result -> not completed"),
    R("nothing-measured", {"a": ({}, []), "b": ({}, [])}, set(), False, RUNNING, RUN + ": no worst status -> Running"),
    R("failed-and-successful", {"a": ({}, [F]), "b": ({}, [S])}, set(), False, F, RUN + ": worst wins"),
    R("failed-ends-run-early", {"a": ({}, [F]), "b": (C5, [S])}, set(), False, F, TERMINATING + ": Failed metric"),
    R("inconclusive-ends-run-early", {"a": ({}, [I]), "b": (IV, [S])}, set(), False, I, TERMINATING + ": Inconclusive"),
    R("error-ends-run-early", {"a": ({}, [E] * 5), "b": (C5, [])}, set(), False, E, TERMINATING + ": Error metric"),
    R("failed-worse-than-error", {"a": ({}, [E] * 5), "b": ({}, [F])}, set(), False, F, ORDER + ": Error < Failed"),
    R("error-worse-than-inconclusive", {"a": ({}, [I]), "b": ({}, [E] * 5)}, set(), False, E,
      ORDER + ": Inconclusive < Error"),
    R("dry-run-failure-ignored", {"a": ({}, [F]), "b": ({}, [S])}, {"a"}, False, S, RUN + ": dry-run not in worst"),
    R("dry-run-failure-does-not-terminate", {"a": ({}, [F]), "b": (C5, [S])}, {"a"}, False, RUNNING,
      "utils/analysis/helpers.go IsTerminating: dry-run results skipped"),
    R("only-dry-run-failed", {"a": ({}, [F]), "b": ({}, [E] * 5)}, {"a", "b"}, False, S,
      RUN + ": dry-run completed sets Successful when no worst"),
    R("terminated-before-any-measurement", {"a": (C5, []), "b": ({}, [])}, set(), True, S,
      RUN + ": terminating with no worst status -> Successful"),
    R("terminated-indefinite-metric", {"a": (IV, [S, S, S])}, set(), True, S, TERMINATING + ": terminate request"),
    R("terminated-keeps-failure", {"a": ({**C5, "failure_limit": 0}, [S, F]), "b": (IV, [S])}, set(), True, F,
      RUN + ": terminating returns the worst status"),
]


def _run_inputs(case: R) -> tuple[list[RunMetric], dict[str, MetricState]]:
    specs = [metric(name=name, **spec) for name, (spec, _) in case.metrics.items()]
    states = {name: state_of(phases, name) for name, (_, phases) in case.metrics.items() if phases}
    return specs, states


@pytest.mark.parametrize("case", RUNS, ids=[c.id for c in RUNS])
def test_run_phase(case: R) -> None:
    specs, states = _run_inputs(case)
    phase, _ = assess_run(specs, states, case.dry_run, case.terminated)
    assert phase is case.expected, case.cite


def test_every_case_cites_an_argo_rule_and_there_are_at_least_40() -> None:
    cases = CLASSIFY + METRICS + RUNS
    assert len(cases) >= 40
    for case in cases:
        assert ".go " in case.cite, case.id


def test_user_abort_is_failed_whatever_was_measured() -> None:
    # Kargo pkg/controller/stages/regular_stages.go (abort): Failed, not Argo's Successful.
    specs = [metric(name="a", **C5)]
    assert assess_run(specs, {}, set(), True) == (S, "run terminated")
    assert assess_run(specs, {"a": state_of([S, S], "a")}, set(), True, user_abort=True) == (F, "aborted by user")
    # user_abort only matters once the run is terminated
    assert assess_run(specs, {}, set(), False, user_abort=True).phase is RUNNING


def test_run_message_names_metric_and_limit() -> None:
    specs = [metric(name="error-rate", **C5, failure_limit=1), metric(name="smoke")]
    states = {"error-rate": state_of([F, F], "error-rate"), "smoke": state_of([S], "smoke")}
    phase, message = assess_run(specs, states, set(), False)
    assert phase is F
    assert 'metric "error-rate" assessed Failed' in message and "failed (2) > failureLimit (1)" in message


def test_phase_order() -> None:
    # utils/analysis/helpers.go analysisStatusOrder
    assert [p.value for p in PHASE_ORDER] == ["Successful", "Running", "Pending", "Inconclusive", "Error", "Failed"]
    assert is_worse(S, F) and is_worse(RUNNING, PENDING) and not is_worse(F, E)
    assert worst(S, I, E, RUNNING) is E
    assert worst() is S
