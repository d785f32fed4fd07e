"""client/logging_setup.py: one renderer for structlog and the standard library's loggers;
Temporal's ``extra`` and the workflow id become fields; OneLineApplicationErrors still
shortens a failed activity's record."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from temporalio.exceptions import ApplicationError

from client.logging_setup import configure_logging, gantry_fields_from_workflow_id, resolve_format, temporal_fields
from client.worker import OneLineApplicationErrors, log_context
from contracts.steps import StepInput


@pytest.fixture
def json_log():
    out = io.StringIO()
    configure_logging("json", stream=out)
    yield out
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.__class__.__name__ == "_Handler":
            root.removeHandler(h)
    structlog.reset_defaults()


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_workflow_ids_name_the_gantry_fields() -> None:
    assert gantry_fields_from_workflow_id("promotion/p/dev/dev.abc.1234567") == {
        "project": "p", "stage": "dev", "promotion": "promotion/p/dev/dev.abc.1234567",
    }  # fmt: skip
    assert gantry_fields_from_workflow_id("warehouse/p/app") == {"project": "p", "warehouse": "app"}
    assert gantry_fields_from_workflow_id("stage/p/prod") == {"project": "p", "stage": "prod"}
    assert gantry_fields_from_workflow_id("something-else") == {}


def test_temporal_extra_is_flattened_and_bound_fields_win() -> None:
    event = {
        "event": "x",
        "step": "push",
        "project": "bound",
        "temporal_activity": {"activity_type": "git-push", "attempt": 2, "task_queue": "q", "workflow_id": "promotion/p/dev/n"},
    }
    out = temporal_fields(None, "info", event)
    assert out["activity_type"] == "git-push" and out["attempt"] == 2 and out["task_queue"] == "q"
    assert out["project"] == "bound" and out["stage"] == "dev" and out["promotion"] == "promotion/p/dev/n"
    assert "temporal_activity" not in out


def test_stdlib_and_structlog_lines_share_the_json_renderer(json_log: io.StringIO) -> None:
    logging.getLogger("temporalio.activity").warning(
        "hello %s", "there", extra={"temporal_workflow": {"workflow_id": "stage/p/dev", "workflow_type": "StageWorkflow"}}
    )
    structlog.get_logger("gantry").info("started", task_queues=["a"])
    first, second = lines(json_log)
    assert first["event"] == "hello there" and first["level"] == "warning" and first["workflow_type"] == "StageWorkflow"
    assert first["project"] == "p" and first["stage"] == "dev"
    assert second["event"] == "started" and second["task_queues"] == ["a"] and second["logger"] == "gantry"


def test_one_line_filter_keeps_working(json_log: io.StringIO) -> None:
    logger = logging.getLogger("test.one-line")
    logger.addFilter(OneLineApplicationErrors(debug=False))
    try:
        raise ApplicationError("the file is missing", type="StepFailed")
    except ApplicationError:
        logger.warning("Completing activity as failed", exc_info=True)
    (line,) = lines(json_log)
    assert line["event"] == "Completing activity as failed: StepFailed: the file is missing"
    assert "exception" not in line


def test_console_renderer_and_bad_format() -> None:
    out = io.StringIO()
    try:
        assert configure_logging("console", stream=out) == "console"
        structlog.get_logger("gantry").info("worker started", port=1)
        assert "worker started" in out.getvalue() and "port=1" in out.getvalue()
    finally:
        structlog.reset_defaults()
        for h in list(logging.getLogger().handlers):
            if h.__class__.__name__ == "_Handler":
                logging.getLogger().removeHandler(h)
    assert resolve_format(None, io.StringIO()) in ("json", "console")
    with pytest.raises(ValueError):
        resolve_format("xml")


def test_step_input_names_the_log_fields() -> None:
    step = StepInput(promotion="promotion/p/dev/n", project="p", stage="dev", alias="push", uses="git-push", config={"password": "x"})
    assert log_context([step]) == {"project": "p", "stage": "dev", "promotion": "promotion/p/dev/n", "step": "push", "uses": "git-push"}
