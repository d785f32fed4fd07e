"""Saying plainly, within seconds, that no Gantry worker is running.

Reads of Stages, Freight and projects are queries, and applies are updates: a worker
answers them. Without one the server holds a query until its deadline (30 s) and then
fails it ("Timeout expired", "no poller seen for task queue recently"). The CLI's client
carries this interceptor: a query or update that has no answer after `after` seconds makes
it ask the server whether any worker polls the task queue; if none does, the call ends with
one line that says what to start.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
)
from temporalio.service import RPCError

from client.api import GantryError

#: how long a query or update may go unanswered before the worker check
CHECK_AFTER = 3.0
#: a poller the server saw longer ago than this is gone (workers long-poll for a minute at most)
POLLER_FRESH = timedelta(seconds=90)


class NoWorkerError(GantryError):
    """No worker polls the task queue the request needs."""


def no_worker_message(task_queue: str, address: str) -> str:
    return (
        f"no Gantry worker is polling task queue {task_queue!r} on {address}: "
        "start one with `gantry worker` or `gantry dev`"
    )


class WorkerWatchdog(Interceptor):
    def __init__(self, task_queue: str, address: str, after: float = CHECK_AFTER) -> None:
        self.task_queue, self.address, self.after = task_queue, address, after
        self.client: Client | None = None  # set once connected

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self)

    async def has_worker(self) -> bool:
        """Whether a worker polled the task queue lately (True when the server cannot say)."""
        if self.client is None:
            return True
        try:
            answer = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=self.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                ),
                timeout=timedelta(seconds=5),
            )
        except RPCError:
            return True
        now = datetime.now(timezone.utc)
        for poller in answer.pollers:
            if not poller.HasField("last_access_time"):
                return True
            if now - poller.last_access_time.ToDatetime(tzinfo=timezone.utc) < POLLER_FRESH:
                return True
        return False

    def error(self) -> NoWorkerError:
        return NoWorkerError(no_worker_message(self.task_queue, self.address))

    async def watch(self, call: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(call)
        try:
            while True:
                await asyncio.wait({task}, timeout=self.after)
                if task.done():
                    break
                if not await self.has_worker():
                    raise self.error()
            return task.result()
        except RPCError as err:
            if "no poller seen" in (err.message or "").lower():
                raise self.error() from None
            raise
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, watchdog: WorkerWatchdog) -> None:
        super().__init__(next)
        self.watchdog = watchdog

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self.watchdog.watch(super().query_workflow(input))

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        return await self.watchdog.watch(super().start_workflow_update(input))

    async def start_update_with_start_workflow(self, input: StartWorkflowUpdateWithStartInput) -> Any:
        return await self.watchdog.watch(super().start_update_with_start_workflow(input))
