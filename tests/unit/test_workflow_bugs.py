"""workflows/bugs.py: which exceptions count as bugs, how they are named, and the handler
guards (called directly: they need no running workflow unless a Temporal failure is seen)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState
from temporalio.worker.workflow_sandbox._restrictions import RestrictedWorkflowAccessError

from workflows import bugs
from workflows.bugs import INTERNAL_ERROR, describe, fails_workflow, guard_signal, guard_update, is_bug


def activity_error(cause: BaseException) -> ActivityError:
    err = ActivityError(
        "activity failed", scheduled_event_id=1, started_event_id=2, identity="test", activity_type="x",
        activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )  # fmt: skip
    err.__cause__ = cause
    return err


@pytest.mark.parametrize("err", [KeyError("x"), TypeError("t"), AttributeError("a"), ValueError("v"), ZeroDivisionError()])
def test_plain_exceptions_are_bugs(err: Exception) -> None:
    assert is_bug(err) and not fails_workflow(err)


def test_temporal_failures_are_bugs_that_used_to_fail_the_workflow() -> None:
    for err in (ApplicationError("boom"), activity_error(ApplicationError("down")), asyncio.TimeoutError()):
        assert is_bug(err) and fails_workflow(err)


@pytest.mark.parametrize(
    "err",
    [
        asyncio.CancelledError(),
        CancelledError("cancelled"),
        activity_error(CancelledError("cancelled")),
        workflow.NondeterminismError("replay differs"),
        RestrictedWorkflowAccessError("datetime.datetime.now"),
        workflow.ReadOnlyContextError("in a query"),
        workflow._NotInWorkflowEventLoopError(),
    ],
)
def test_cancellation_and_the_sdks_own_errors_are_not(err: BaseException) -> None:
    assert not is_bug(err)


def test_continue_as_new_is_not_an_exception_at_all() -> None:
    assert not issubclass(workflow.ContinueAsNewError, Exception)


def test_describe_names_type_and_message() -> None:
    assert describe(KeyError("x")) == "KeyError: 'x'"
    assert describe(ZeroDivisionError()) == "ZeroDivisionError"
    assert describe(activity_error(ApplicationError("registry down"))) == "ActivityError: registry down"


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the guards log (workflow.logger needs a running workflow)."""
    lines: list[str] = []
    monkeypatch.setattr(bugs, "log_bug", lambda what, err: lines.append(f"{what}: {describe(err)}"))
    return lines


class Handlers:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @guard_update
    def update(self, value: str) -> str:
        if value == "bug":
            raise KeyError("missing")
        if value == "refused":
            raise ApplicationError("refused on purpose", type="Refused")
        return value.upper()

    @guard_update
    async def async_update(self, value: str) -> str:
        if value == "bug":
            return {}["missing"]
        return value

    @guard_signal
    def signal(self, value: str) -> None:
        if value == "bug":
            raise TypeError("bad signal")
        self.seen.append(value)


def test_guard_update_turns_a_bug_into_an_internal_error(logged: list[str]) -> None:
    h = Handlers()
    assert h.update("ok") == "OK"
    with pytest.raises(ApplicationError) as raised:
        h.update("bug")
    assert raised.value.type == INTERNAL_ERROR and raised.value.non_retryable
    assert raised.value.message.startswith("internal error: KeyError: 'missing' (a bug in Gantry")
    with pytest.raises(ApplicationError) as refused:  # a failure raised on purpose stays as it is
        h.update("refused")
    assert refused.value.type == "Refused"
    assert logged == ["update update: KeyError: 'missing'"]


async def test_guard_update_keeps_async_handlers_async(logged: list[str]) -> None:
    h = Handlers()
    assert asyncio.iscoroutinefunction(Handlers.async_update)
    assert await h.async_update("ok") == "ok"
    with pytest.raises(ApplicationError, match="internal error: KeyError: 'missing'"):
        await h.async_update("bug")


def test_guard_signal_drops_the_bad_signal_only(logged: list[str]) -> None:
    h = Handlers()
    h.signal("a")
    h.signal("bug")  # logged, dropped
    h.signal("b")
    assert h.seen == ["a", "b"]
    assert logged == ["signal signal (the signal is dropped): TypeError: bad signal"]


def test_guards_keep_the_handlers_signature_for_temporal() -> None:
    from temporalio.common import _type_hints_from_func

    assert _type_hints_from_func(Handlers.update) == ([str], str)
