"""activities/pairs.py: the one parser of {name, value} lists, as each of its callers uses it
(the http steps' headers and queryParams, the metrics' headers, a job container's env)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.http_client import name_value_pairs  # noqa: E402
from activities.metrics.base import ConfigError, key_value_headers  # noqa: E402
from activities.metrics.job_spec import JobSpec  # noqa: E402
from activities.pairs import PairsError, name_value_list  # noqa: E402
from activities.steps.base import STEP_FAILED  # noqa: E402


def test_pairs_in_order_values_as_strings() -> None:
    raw = [{"name": "A", "value": "x"}, {"name": "B", "value": 2}, {"name": "A", "value": 1.5}, {"name": "C"}]
    assert name_value_list(raw, "f") == [("A", "x"), ("B", "2"), ("A", "1.5"), ("C", "")]
    assert name_value_list(None, "f") == []
    assert name_value_list([{"key": "K", "value": "v"}, {"name": "N", "value": "w"}], "h", key="key", also="name") == [
        ("K", "v"), ("N", "w")
    ]


@pytest.mark.parametrize(
    "raw, kw, where, problem",
    [
        ({"name": "a"}, {}, "f", "must be a list of {name, value}"),
        (["a"], {}, "f[0]", "must be a mapping {name, value}"),
        ([{"name": "a", "value": "v", "x": 1}], {"exact": True}, "f[0]", "must be a mapping {name, value}"),
        ([{"value": "v"}], {}, "f[0].name", "must be a non-empty string"),
        ([{"name": "", "value": "v"}], {}, "f[0].name", "must be a non-empty string"),
        ([{"name": "a", "value": True}], {}, "f[0].value", "must be a string"),
        ([{"name": "a", "value": {"x": 1}}], {}, "f[0].value", "must be a string"),
        ([{"name": "a", "value": ""}], {"empty_value": False}, "f[0].value", "must be a non-empty string"),
        ([{"name": "a", "valueFrom": {}}], {"unsupported": {"valueFrom": "no"}}, "f[0]", "(a): no"),
        ([{"value": "v"}], {"key": "key"}, "f[0].key", "must be a non-empty string"),
    ],
)
def test_pairs_errors_name_the_place(raw, kw, where: str, problem: str) -> None:
    with pytest.raises(PairsError) as e:
        name_value_list(raw, "f", **kw)
    assert (e.value.where, e.value.problem) == (where, problem)


def test_http_steps_headers_are_strict() -> None:
    assert name_value_pairs({"headers": [{"name": "X", "value": "1"}]}, "headers") == [("X", "1")]
    for bad, where in [
        ([{"name": "X", "value": "1", "extra": 1}], "'headers[0]'"),
        ([{"name": "X", "value": ""}], "'headers[0].value'"),
        ([{"name": "X"}], "'headers[0].value'"),
    ]:
        with pytest.raises(ApplicationError) as e:
            name_value_pairs({"headers": bad}, "headers")
        assert e.value.type == STEP_FAILED and f"config field {where} must be" in str(e.value), str(e.value)


def test_metric_headers_take_key_or_name() -> None:
    cfg = {"headers": [{"key": "A", "value": "1"}, {"name": "B", "value": None}]}
    assert key_value_headers(cfg) == [("A", "1"), ("B", "")]
    with pytest.raises(ConfigError, match=r"^headers\[0\]\.key must be a non-empty string$"):
        key_value_headers({"headers": [{"value": "1"}]})


def _job(env: list) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"image": "i", "command": ["true"], "env": env}]}}}}


def test_job_env() -> None:
    assert JobSpec(_job([{"name": "A", "value": "1"}, {"name": "B"}, {"name": "C", "value": 3}])).env == {
        "A": "1", "B": "", "C": "3"
    }
    with pytest.raises(ConfigError, match=r"containers\[0\]\.env\[0\] must be a mapping"):
        JobSpec(_job(["A=1"]))
    with pytest.raises(ConfigError, match=r"containers\[0\]\.env\[0\] \(A\): valueFrom is not supported"):
        JobSpec(_job([{"name": "A", "valueFrom": {"secretKeyRef": {}}}]))
