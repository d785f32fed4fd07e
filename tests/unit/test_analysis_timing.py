"""next_measurement_at (analysis/analysis.go generateMetricTasks / calculateNextReconcileTime)
and the seed's error-rate-check template driven with simulated time (issue 6 "Done when")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pipeline.analysis import (
    AnalysisPhase,
    Measurement,
    MetricState,
    RunMetric,
    assess,
    assess_run,
    build_run_spec,
    classify,
    next_measurement_at,
)
from pipeline.manifests.parse import load_document, parse_documents

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
S, F, E = AnalysisPhase.SUCCESSFUL, AnalysisPhase.FAILED, AnalysisPhase.ERROR
SEED = Path(__file__).parents[1] / "fixtures" / "seed" / "01-analysis-templates.yaml"


def metric(**kw: Any) -> RunMetric:
    kw.setdefault("name", "m")
    kw.setdefault("provider", {"web": {"url": "http://127.0.0.1/"}})
    return RunMetric(**kw)


def done(phase: AnalysisPhase, at: datetime) -> Measurement:
    return Measurement(value=1, phase=phase, started_at=at, finished_at=at)


def test_first_measurement_at_once_without_initial_delay() -> None:
    assert next_measurement_at(metric(), MetricState(), T0, T0) == T0
    assert next_measurement_at(metric(), None, T0, T0 + timedelta(seconds=5)) == T0 + timedelta(seconds=5)


def test_initial_delay_counts_from_run_start() -> None:
    m = metric(initial_delay="1m", interval="30s", count=2)
    assert next_measurement_at(m, MetricState(), T0, T0 + timedelta(seconds=20)) == T0 + timedelta(minutes=1)
    # already past: due now
    late = T0 + timedelta(minutes=3)
    assert next_measurement_at(m, MetricState(), T0, late) == late
    # the initial delay applies to the first measurement only
    state = MetricState().record(done(S, T0 + timedelta(minutes=1)))
    assert next_measurement_at(m, state, T0, T0 + timedelta(minutes=1)) == T0 + timedelta(minutes=1, seconds=30)


def test_interval_counts_from_the_last_measurement_finishing() -> None:
    m = metric(interval="30s", count=3)
    state = MetricState().record(
        Measurement(value=1, phase=S, started_at=T0, finished_at=T0 + timedelta(seconds=7))
    )
    assert next_measurement_at(m, state, T0, T0 + timedelta(seconds=7)) == T0 + timedelta(seconds=37)


def test_error_is_retried_after_10s_whatever_the_interval() -> None:
    m = metric(interval="5m", count=3)
    state = MetricState().record(done(S, T0)).record(done(E, T0 + timedelta(minutes=5)))
    assert state.count == 1
    assert next_measurement_at(m, state, T0, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=5, seconds=10)
    # a single-shot metric that errs is retried too (it has not reached its count of 1)
    single = metric()
    st = MetricState().record(done(E, T0))
    assert next_measurement_at(single, st, T0, T0) == T0 + timedelta(seconds=10)


def test_none_once_the_metric_has_a_verdict() -> None:
    m = metric(interval="30s", count=2)
    state = MetricState().record(done(S, T0)).record(done(S, T0 + timedelta(seconds=30)))
    assert next_measurement_at(m, state, T0, T0 + timedelta(seconds=30)) is None
    failing = MetricState().record(done(F, T0))
    assert next_measurement_at(m, failing, T0, T0) is None  # failed 1 > failureLimit 0
    errors = MetricState()
    for i in range(5):
        errors.record(done(E, T0 + timedelta(seconds=10 * i)))
    assert next_measurement_at(m, errors, T0, T0 + timedelta(seconds=40)) is None  # 5 > 4


def test_indefinite_metric_keeps_scheduling_until_terminating() -> None:
    m = metric(interval="1m")
    state = MetricState()
    for i in range(50):
        state.record(done(S, T0 + timedelta(minutes=i)))
    assert next_measurement_at(m, state, T0, T0 + timedelta(minutes=49)) == T0 + timedelta(minutes=50)
    assert next_measurement_at(m, state, T0, T0 + timedelta(minutes=49), terminating=True) is None


# ---------------------------------------------------------------------------
# The seed's error-rate-check: failureLimit 2, count 5, interval 30s, result[0] < 0.05
# ---------------------------------------------------------------------------


def seed_error_rate() -> RunMetric:
    docs = [load_document(d) for d in parse_documents(SEED.read_text(), str(SEED))]
    template = next(d for d in docs if d.metadata.name == "error-rate-check")
    spec = build_run_spec([template])
    (m,) = spec.metrics
    assert (m.count, m.interval, m.failure_limit, m.success_condition) == (5, "30s", 2, "result[0] < 0.05")
    return m


def simulate(m: RunMetric, values: list[Any], took: timedelta = timedelta(seconds=2)):
    """Measure `values` in turn at the times next_measurement_at gives; None = provider error."""
    state = MetricState(name=m.name)
    now = T0
    times: list[datetime] = []
    feed = iter(values)
    while (at := next_measurement_at(m, state, T0, now)) is not None:
        now = at
        value = next(feed)
        if value is None:
            phase, message = AnalysisPhase.ERROR, "connection refused"
        else:
            phase, message = classify(value, m.success_condition, m.failure_condition)
        times.append(now)
        now += took
        state.record(Measurement(value=value, phase=phase, message=message, started_at=at, finished_at=now))
    verdict = assess_run([m], {m.name: state}, set(), terminated=False)
    return verdict, state, times


def test_seed_error_rate_fails_when_3_of_5_checks_are_above_5_percent() -> None:
    m = seed_error_rate()
    (phase, message), state, times = simulate(m, [[0.01], [0.08], [0.02], [0.09], [0.07]])
    assert phase is F
    assert "failed (3) > failureLimit (2)" in message
    assert state.count == 5 and state.failed == 3
    # 30 s after each measurement finished (2 s each)
    assert [(t - T0).total_seconds() for t in times] == [0, 32, 64, 96, 128]


def test_seed_error_rate_fails_early_when_the_first_3_are_above() -> None:
    m = seed_error_rate()
    (phase, _), state, times = simulate(m, [[0.3], [0.2], [0.1], [0.0], [0.0]])
    assert phase is F
    assert len(times) == 3 and state.count == 3  # no 4th/5th measurement once the limit is exceeded


def test_seed_error_rate_passes_when_2_of_5_checks_are_above_5_percent() -> None:
    m = seed_error_rate()
    (phase, message), state, times = simulate(m, [[0.06], [0.01], [0.02], [0.09], [0.03]])
    assert (phase, message) == (S, "")
    assert state.count == 5 and state.failed == 2 and state.successful == 3
    assert len(times) == 5


def test_seed_error_rate_errors_are_retried_and_not_counted() -> None:
    m = seed_error_rate()
    (phase, _), state, times = simulate(m, [[0.01], None, None, [0.01], [0.01], [0.2], [0.01]])
    assert phase is S
    assert state.count == 5 and state.error == 2 and len(state.measurements) == 7
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert gaps == [32, 12, 12, 32, 32, 32]  # 30 s interval, 10 s error retry, + 2 s measuring


def test_seed_error_rate_no_data_five_times_in_a_row_is_error() -> None:
    m = seed_error_rate()
    (phase, message), state, times = simulate(m, [[]] * 5)
    assert phase is E
    assert "consecutiveErrors (5) > consecutiveErrorLimit (4)" in message
    assert "no data" in message
    assert state.count == 0


@pytest.mark.parametrize("above", range(6))
def test_seed_error_rate_verdict_by_number_of_bad_checks(above: int) -> None:
    m = seed_error_rate()
    values = [[0.5]] * above + [[0.0]] * (5 - above)
    (phase, _), state, _ = simulate(m, values)
    assert phase is (F if above >= 3 else S)
    assert assess(m, state, terminating=False) is phase
