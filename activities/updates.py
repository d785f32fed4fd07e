"""Workflow updates that the server turned away without applying them are sent again (by
the client API and by the activities that update workflows alike).

These cases are safe to repeat because the update was never applied:

* `UnprocessedUpdate`: the update reached the workflow in the very workflow task in which
  it continued as new; the new run takes it when it is sent again.
* `RESOURCE_EXHAUSTED` "concurrent in-flight updates": the server admits only a few updates
  per workflow at once (`history.maxInFlightUpdates`, 10 by default); a burst (many
  Warehouses, many clients) waits its turn instead of failing.
* "workflow operation can not be applied because workflow is closing" (`RESOURCE_EXHAUSTED`):
  the run is continuing as new; the next run takes it.
* "workflow update was aborted" (`UNAVAILABLE`): the update was admitted but the run
  continued as new before any workflow task took it (an update the run accepted is always
  finished first: the workflows wait for `all_handlers_finished`); the next run takes it.
* "Workflow Task in failed state" (`FAILED_PRECONDITION`, WorkflowNotReady): the workflow's
  last task failed or timed out (a busy worker's sticky queue, a worker that died) and is
  not retried yet; the server takes updates again once a task completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")
#: with the backoff below, about a minute: a workflow whose task failed under load (a worker
#: evicted it, sdk-core refused a state it could not follow) takes a retry or two to recover
ATTEMPTS = 60
#: the pause before attempt n is min(BACKOFF * 2**(n-2), MAX_BACKOFF) seconds
BACKOFF = 0.02
MAX_BACKOFF = 1.0


def was_unprocessed(err: WorkflowUpdateFailedError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == "UnprocessedUpdate"


def too_many_in_flight(err: RPCError) -> bool:
    return err.status == RPCStatusCode.RESOURCE_EXHAUSTED and "in-flight updates" in err.message


def aborted_by_continue_as_new(err: RPCError) -> bool:
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return "workflow is closing" in err.message
    return err.status == RPCStatusCode.UNAVAILABLE and "update was aborted" in err.message


def workflow_not_ready(err: RPCError) -> bool:
    return err.status == RPCStatusCode.FAILED_PRECONDITION and "Workflow Task in failed state" in err.message


def turned_away(err: RPCError) -> bool:
    """The server turned the update away unapplied, for now (too many in flight, continue-as-new)."""
    return too_many_in_flight(err) or aborted_by_continue_as_new(err) or workflow_not_ready(err)


async def retry_unprocessed(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run `call` (one update), again while the server turned it away unapplied."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except WorkflowUpdateFailedError as err:
            if attempt == attempts or not was_unprocessed(err):
                raise
        except RPCError as err:
            if attempt == attempts or not turned_away(err):
                raise
        await asyncio.sleep(min(BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF))
    raise AssertionError("unreachable")
