"""activities/heartbeat.py: the one heartbeat loop (run_blocking, HTTP waits and local jobs use it)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities import http_client  # noqa: E402
from activities.heartbeat import heartbeating  # noqa: E402
from activities.steps.base import run_blocking  # noqa: E402


def _env() -> tuple[ActivityEnvironment, list]:
    env = ActivityEnvironment()
    beats: list = []
    env.on_heartbeat = lambda *details: beats.append(details)
    return env, beats


async def test_heartbeats_while_waiting_with_details() -> None:
    env, beats = _env()
    state = {"n": 0}

    async def work() -> str:
        await asyncio.sleep(0.35)
        return "done"

    @activity.defn
    async def act() -> str:
        def details() -> dict:
            state["n"] += 1
            return {"n": state["n"]}

        return await heartbeating(work(), details=details, every=0.1)

    assert await env.run(act) == "done"
    assert 2 <= len(beats) <= 4, beats
    assert beats[0] == ({"n": 1},) and beats[1] == ({"n": 2},)


async def test_no_heartbeat_when_quick_and_errors_pass_through() -> None:
    env, beats = _env()

    async def boom() -> None:
        raise ValueError("boom")

    @activity.defn
    async def act() -> str:
        assert await heartbeating(asyncio.sleep(0, "x"), every=0.1) == "x"
        await heartbeating(boom(), every=0.1)
        return "unreachable"

    with pytest.raises(ValueError, match="boom"):
        await env.run(act)
    assert beats == []


async def test_cancelling_the_caller_cancels_the_work_and_lets_it_clean_up() -> None:
    cleaned = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cleaned.set()

    outer = asyncio.ensure_future(heartbeating(work(), every=0.05))
    await asyncio.sleep(0.12)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert cleaned.is_set()  # the work's own cleanup ran before the cancellation went on


async def test_run_blocking_and_http_use_the_same_loop() -> None:
    assert http_client.heartbeating is heartbeating
    env, beats = _env()
    main = threading.get_ident()

    @activity.defn
    async def act() -> bool:
        return await run_blocking(lambda: (time.sleep(2.3), threading.get_ident() != main)[1])

    assert await env.run(act) is True
    assert len(beats) == 1  # one beat after HEARTBEAT_EVERY (2 s)
