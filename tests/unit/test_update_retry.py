"""An update the worker never processed is sent again; any other failure is not."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.updates import retry_unprocessed


def rejected(kind: str) -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(ApplicationError("rejected", type=kind))


async def test_unprocessed_updates_are_sent_again_until_they_land() -> None:
    calls = []

    async def call() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise rejected("UnprocessedUpdate")
        return "applied"

    assert await retry_unprocessed(call) == "applied"
    assert len(calls) == 3


async def test_a_validator_rejection_is_not_retried() -> None:
    calls = []

    async def call() -> str:
        calls.append(1)
        raise rejected("ValueError")

    with pytest.raises(WorkflowUpdateFailedError):
        await retry_unprocessed(call)
    assert len(calls) == 1


async def test_retries_are_bounded() -> None:
    calls = []

    async def call() -> str:
        calls.append(1)
        raise rejected("UnprocessedUpdate")

    with pytest.raises(WorkflowUpdateFailedError):
        await retry_unprocessed(call, attempts=3)
    assert len(calls) == 3


async def test_a_burst_over_the_in_flight_limit_waits_its_turn() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    calls = []

    async def call() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise RPCError("limit on number of concurrent in-flight updates has been reached (10)", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
        return "applied"

    assert await retry_unprocessed(call) == "applied"
    assert len(calls) == 4


async def test_other_rpc_errors_are_not_retried() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    calls = []

    async def call() -> str:
        calls.append(1)
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")

    with pytest.raises(RPCError):
        await retry_unprocessed(call)
    assert len(calls) == 1


async def test_an_update_aborted_by_continue_as_new_is_sent_again() -> None:
    """Admitted but never taken by a task before the run continued as new: not applied."""
    from temporalio.service import RPCError, RPCStatusCode

    calls = []

    async def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RPCError("workflow update was aborted", RPCStatusCode.UNAVAILABLE, b"")
        if len(calls) == 2:
            raise RPCError(
                "workflow operation can not be applied because workflow is closing", RPCStatusCode.RESOURCE_EXHAUSTED, b""
            )
        return "applied"

    assert await retry_unprocessed(call) == "applied"
    assert len(calls) == 3


async def test_an_update_to_a_workflow_whose_task_failed_waits_for_the_next_task() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    calls = []

    async def call() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RPCError(
                "Unable to perform workflow execution update due to Workflow Task in failed state.",
                RPCStatusCode.FAILED_PRECONDITION,
                b"",
            )
        return "applied"

    assert await retry_unprocessed(call) == "applied"
    assert len(calls) == 3
