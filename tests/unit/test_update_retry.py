"""An update the worker never processed is sent again; any other failure is not."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from client.updates import retry_unprocessed


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
