"""expr-lang's now(), date() and duration() (issue #15): Go's time.Time and time.Duration
in expressions, with now() the time the caller gives (workflow time), never the clock's."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from pipeline.expressions import ExpressionError, evaluate, promotion_env, render, verification_env
from pipeline.step_rendering import RenderScope, render_config

NOW = datetime(2026, 12, 1, 13, 5, 9, 120000, tzinfo=timezone.utc)


def env(now: datetime | None = NOW) -> dict:
    return promotion_env(project="p", stage="s", freight=[], now=now)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("now().Format('2006-01-02T15:04:05Z07:00')", "2026-12-01T13:05:09Z"),
        ("now().Format('Mon Jan 2 03:04:05.000 PM 2006')", "Tue Dec 1 01:05:09.120 PM 2026"),
        ("now().Format('06/01/02 15h04 .999999 -0700 MST')", "26/12/01 13h05 .12 +0000 UTC"),
        ("string(now())", "2026-12-01 13:05:09.12 +0000 UTC"),
        ("toJSON(now())", '"2026-12-01T13:05:09.12Z"'),
        ("[now().Year(), now().Month(), now().Day(), now().Hour(), now().Minute(), now().Second()]", [2026, 12, 1, 13, 5, 9]),
        ("now().Weekday()", 2),
        ("now().YearDay()", 335),
        ("now().Unix()", 1796130309),
        ("now().UnixMilli()", 1796130309120),
        ("(now() - date('2026-11-30')).Hours()", pytest.approx(37.0858666)),
        ("now().Sub(date('2026-12-01')).String()", "13h5m9.12s"),
        ("(now() - duration('1h30m')).Format('15:04')", "11:35"),
        ("(duration('1h') + now()).Hour()", 14),
        ("now().Add(duration('-24h')).Day()", 30),
        ("now().AddDate(0, 1, 31).Format('2006-01-02')", "2027-02-01"),
        ("now().Truncate(duration('1h')).Format(\"15:04:05\")", "13:00:00"),
        ("now().Round(duration('1h')).Hour()", 13),
        ("now() > date('2026-12-01') && now().After(date('2026-01-01')) && date('2020-01-01').Before(now())", True),
        ("now() == now() && now() != date('2026-12-01')", True),
        ("date('2024-03-01T10:00:00+02:00').UTC().Format('Jan _2 15:04 MST')", "Mar  1 08:00 UTC"),
        ("date('2024-03-01 10:00:00').Format(\"2006-01-02T15:04:05Z07:00\")", "2024-03-01T10:00:00Z"),
        ("date('Mon, 02 Jan 2006 15:04:05 MST').Unix()", 1136214245),
        ("date('02/01/2024', '02/01/2006').Month()", 1),
        ("date('2024-01-02', '2006-01-02', 'UTC').Day()", 2),
        ("string(duration('90m'))", "1h30m0s"),
        ("duration('1.5s').String()", "1.5s"),
        ("duration('300ms').Milliseconds()", 300),
        ("duration('-1h2m').Minutes()", -62.0),
        ("duration('1h') > duration('59m') && duration('1m') <= duration('60s')", True),
        ("string(duration('1s') * 3)", "3s"),
        ("duration('2s') * 1.5", 3e9),
        ("duration('2h') - duration('30m') == duration('1h30m')", True),
        ("toJSON(duration('1s'))", "1000000000"),
        ("string(duration('0'))", "0s"),
    ],
)
def test_time_functions_behave_as_in_go(expression, expected):
    assert evaluate(expression, env()) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("duration('1 hour')", 'time: invalid duration "1 hour"'),
        ("duration('')", "invalid duration"),
        ("date('yesterday')", "invalid date yesterday"),
        ("date('2024-13-01')", "invalid date 2024-13-01"),
        ("date('2024-13-01', '2006-01-02')", "parsing time"),
        ("date('2024-01-01', '2006-01-02', 'Europe/Paris')", "not supported"),
        ("now(1)", "expected 0"),
        ("now() + 1", "invalid operation: time.Time + int"),
        ("now() < 3", "invalid operation"),
    ],
)
def test_bad_time_input_is_an_expression_error(expression, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        evaluate(expression, env())


def test_a_template_renders_now_as_an_rfc3339_string():
    assert render({"at": "${{ now() }}", "tag": "build-${{ now().Format('20060102') }}"}, env()) == {
        "at": "2026-12-01T13:05:09.12Z",
        "tag": "build-20261201",
    }


def test_now_is_the_time_given_never_the_clock():
    """The same `now` renders the same config (a replay sees what the first run saw); without
    one, now() is an error rather than a read of the clock."""
    scope = RenderScope(project="p", stage="s", promotion="pr", freight={"name": "f"}, actor=None)
    config = {"stamp": "${{ now().UnixMicro() }}", "day": "${{ now().Format('Monday') }}"}
    first = render_config(scope, config, vars={}, outputs={}, step_statuses={}, alias="a", source="x", now=NOW)
    again = render_config(scope, config, vars={}, outputs={}, step_statuses={}, alias="a", source="x", now=NOW)
    assert first == again == {"stamp": 1796130309120000, "day": "Tuesday"}
    with pytest.raises(ExpressionError, match="now\\(\\) is not available"):
        evaluate("now()", env(now=None))


def test_verification_args_see_the_time_functions():
    venv = verification_env(project="p", stage="s", freight=[], now=NOW)
    assert evaluate("string(now().Add(duration('1h')))", venv) == "2026-12-01 14:05:09.12 +0000 UTC"


def test_creation_criteria_see_the_warehouses_time():
    from pipeline.discovery.freight import NoCandidate, check_criteria

    check_criteria("now().Year() == 2026 && duration('1h') > duration('1m')", {}, now=NOW)
    with pytest.raises(NoCandidate, match="is false"):
        check_criteria("now() < date('2026-01-01')", {}, now=NOW)
