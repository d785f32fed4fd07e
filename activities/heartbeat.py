"""Heartbeats: how an activity tells Temporal it is alive while it waits.

One loop for every kind of wait: ``heartbeating(awaitable)`` awaits a coroutine (an HTTP
request, a thread from ``run_blocking``, a local job) and heartbeats every
``HEARTBEAT_EVERY`` seconds meanwhile, so a worker that dies mid-wait is noticed by the
activity's heartbeat timeout and the activity is retried elsewhere. ``Heartbeat`` is the
rate-limited variant for loops that make progress in chunks (streams, pages)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Awaitable, Callable, TypeVar

from temporalio import activity

T = TypeVar("T")

HEARTBEAT_EVERY = 2.0


def beat(details: Any = None) -> None:
    """One heartbeat (with ``details`` unless None); nothing outside an activity."""
    if not activity.in_activity():
        return
    if details is None:
        activity.heartbeat()
    else:
        activity.heartbeat(details)


async def heartbeating(
    awaitable: Awaitable[T], details: Callable[[], Any] | None = None, every: float | None = None
) -> T:
    """Await ``awaitable`` while heartbeating every ``every`` seconds (``HEARTBEAT_EVERY``),
    with ``details()`` as the heartbeat details when given.

    If the caller is cancelled (the activity was cancelled or timed out), the awaited work
    is cancelled too and given the chance to clean up (a job kills its process group)
    before the cancellation goes on."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY if every is None else every)
            if done:
                return task.result()
            beat(details() if details is not None else None)
    except BaseException:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        raise


class Heartbeat:
    """Rate-limited heartbeats for streaming loops: call ``tick()`` per chunk."""

    def __init__(self, every: float = HEARTBEAT_EVERY) -> None:
        self.every = every
        self.last = time.monotonic()

    def tick(self, details: Any = None) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            beat(details)
