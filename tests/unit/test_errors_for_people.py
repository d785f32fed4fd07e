"""Errors for people (issue 12, part 4): one line, no exception class names, no traceback
unless --debug; bad flag values are refused while the command line is parsed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.service import RPCError, RPCStatusCode

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from client.api import GantryError  # noqa: E402
from client.devserver import free_port  # noqa: E402
from client.errors import is_bug, is_unavailable, plain, user_message  # noqa: E402
from client.settings import validate_address  # noqa: E402
from client.worker import OneLineApplicationErrors  # noqa: E402


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "client.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        timeout=60,
    )
    return done.returncode, (done.stdout + done.stderr).decode()


@pytest.mark.parametrize(
    "address, words",
    [
        ("127.0.0.1:abc", "port must be a number"),
        ("host", "has no port"),
        ("host:0", "port must be a number"),
        ("host:65536", "port must be a number"),
        (":7233", "has no host"),
        ("http://host:7233", "without a scheme"),
    ],
)
def test_bad_addresses_are_refused_with_the_reason(address: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        validate_address(address)


@pytest.mark.parametrize("address", ["localhost:7233", "127.0.0.1:1", "temporal.example.com:443", "[::1]:7233"])
def test_good_addresses_pass(address: str) -> None:
    assert validate_address(address) == address


@pytest.mark.parametrize("address", ["127.0.0.1:abc", "host"])
def test_the_cli_names_the_flag_of_a_bad_address(address: str) -> None:
    code, out = cli("--address", address, "get", "projects")
    assert code == 2, out
    assert "--address" in out and address in out
    assert "Traceback" not in out and "ValueError" not in out


def test_a_bad_temporal_address_variable_is_refused_too() -> None:
    code, out = cli("get", "projects", env={"TEMPORAL_ADDRESS": "127.0.0.1:abc"})
    assert code == 2 and "TEMPORAL_ADDRESS" in out and "Traceback" not in out


def test_no_server_is_one_line_and_debug_shows_the_traceback() -> None:
    address = f"127.0.0.1:{free_port()}"
    code, out = cli("--address", address, "get", "projects")
    assert code == 1
    assert out.strip() == (
        f"error: cannot reach the Temporal server at {address}: start one with `gantry dev`, "
        "or pass --address / TEMPORAL_ADDRESS"
    )
    code, out = cli("--debug", "--address", address, "get", "projects")
    assert code == 1 and "Traceback" in out and out.strip().endswith("or pass --address / TEMPORAL_ADDRESS")
    code, out = cli("--address", address, "get", "projects", env={"GANTRY_DEBUG": "1"})
    assert code == 1 and "Traceback" in out


def test_messages_lose_their_exception_types() -> None:
    assert plain("ValueError: stage 'prod' does not exist") == "stage 'prod' does not exist"
    assert plain("StepFailed: git-push: refused\nmore") == "git-push: refused"
    assert user_message(GantryError("ValueError: stage 'prod' does not exist")) == "stage 'prod' does not exist"
    refused = WorkflowUpdateFailedError(ApplicationError("alias 'a' is already used", type="ValueError"))
    assert user_message(refused) == "alias 'a' is already used"
    inner = ApplicationError("ValueError: disk full", type="ValueError")
    outer = ActivityError(
        "activity failed", scheduled_event_id=1, started_event_id=2, identity="w", activity_type="git-push",
        activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )  # fmt: skip
    outer.__cause__ = inner
    assert user_message(outer) == "disk full"
    assert user_message(ValueError("stage 'prod' does not exist")) == "stage 'prod' does not exist"


def test_an_unreachable_server_is_told_apart_from_a_refusal() -> None:
    down = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    assert is_unavailable(down) and not is_bug(down)
    assert "cannot reach the Temporal server at h:1" in user_message(down, "h:1")
    assert is_unavailable(RuntimeError("Failed client connect: Server connection error: tonic::transport::Error"))
    assert not is_unavailable(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))
    assert is_unavailable(RPCError("Namespace default is not found.", RPCStatusCode.NOT_FOUND, b""))


def test_a_bug_says_so_and_how_to_see_the_traceback() -> None:
    line = user_message(KeyError("stages"))
    assert "bug in Gantry" in line and "--debug" in line and "\n" not in line


# -------------------------------------------------------------- the worker's terminal


def _record(name: str, msg: str, err: BaseException) -> logging.LogRecord:
    try:
        raise err
    except BaseException:
        return logging.getLogger(name).makeRecord(name, logging.WARNING, __file__, 1, msg, None, sys.exc_info())


def test_a_workflow_task_failed_by_a_refusal_is_one_line() -> None:
    err = ActivityError(
        "activity failed", scheduled_event_id=1, started_event_id=2, identity="w", activity_type="load",
        activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )  # fmt: skip
    err.__cause__ = ApplicationError("freight 'x' does not exist in project p", type="FreightRefused", non_retryable=True)
    record = _record("temporalio.worker._workflow_instance", "Failed activation on workflow PromotionWorkflow", err)
    assert OneLineApplicationErrors(debug=False).filter(record)
    text = logging.Formatter().format(record)
    assert text == "Failed activation on workflow PromotionWorkflow: FreightRefused: freight 'x' does not exist in project p"


def test_a_lost_server_in_the_worker_is_one_line_without_bug() -> None:
    record = _record("temporalio.worker._activity", "Activity task raised during worker shutdown",
                     RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""))  # fmt: skip
    assert OneLineApplicationErrors(debug=False).filter(record)
    text = logging.Formatter().format(record)
    assert "Traceback" not in text and "bug" not in text and "connection refused" in text


def test_a_refusal_seen_through_a_query_in_an_activity_is_not_called_a_bug() -> None:
    from temporalio.client import WorkflowQueryFailedError

    record = _record("temporalio.activity", "Completing activity as failed",
                     WorkflowQueryFailedError("stage 'prod' does not exist in project demo"))  # fmt: skip
    assert OneLineApplicationErrors(debug=False).filter(record)
    text = logging.Formatter().format(record)
    assert text == "Completing activity as failed: WorkflowQueryFailedError: stage 'prod' does not exist in project demo"
