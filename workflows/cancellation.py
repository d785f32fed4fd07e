"""Temporal's cancellation as an abort: the body of a workflow that must clean up (give a
lock back, tell its project, cancel its child) runs on, told by `on_cancel`, and the
workflow ends Canceled only once the body has ended.

The SDK cancels the workflow's main task, so the body runs in a task of its own behind
`asyncio.shield`. And the SDK raises CancelledError in a `wait_condition` that was pending
when the request came, in any task: :func:`wait` turns that into the same `on_cancel`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

T = TypeVar("T")


async def shielded(body: Awaitable[T], on_cancel: Callable[[], None]) -> T:
    """Await `body` to its end; each cancellation request calls `on_cancel` instead."""
    task = asyncio.ensure_future(body)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            on_cancel()


async def wait(
    condition: Callable[[], bool],
    on_cancel: Callable[[], None],
    *,
    timeout: timedelta | None = None,
    summary: str | None = None,
) -> None:
    """`workflow.wait_condition`; a cancellation request during it calls `on_cancel` and returns."""
    try:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    except asyncio.CancelledError:
        if workflow.cancellation_reason() is None:
            raise
        on_cancel()
