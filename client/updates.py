"""Workflow updates that the worker never saw are sent again.

When an update reaches a workflow in the very workflow task in which it continues as new,
the server rejects it with `UnprocessedUpdate`: the update was not applied (not accepted,
not validated), so sending it again, to the new run, is safe and is what the caller meant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

T = TypeVar("T")
ATTEMPTS = 5


def was_unprocessed(err: WorkflowUpdateFailedError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == "UnprocessedUpdate"


async def retry_unprocessed(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run `call` (one update), again when the worker never processed it."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except WorkflowUpdateFailedError as err:
            if attempt == attempts or not was_unprocessed(err):
                raise
            await asyncio.sleep(0.02 * attempt)  # let the new run start
    raise AssertionError("unreachable")
