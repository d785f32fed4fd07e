"""`matches` runs inside the workflow sandbox (RE2 is a passthrough module): a step's `if`
with a pattern Python's backtracking engine takes seconds on answers at once, and a pattern
Go refuses errors the step with a clear message."""

from __future__ import annotations

import time

import pytest

from tests.conftest import WorkerHandle
from tests.integration.test_step_semantics import by_alias, ok, run

pytestmark = pytest.mark.integration


async def test_matches_in_a_workflow_is_re2(worker: WorkerHandle, unique: str) -> None:
    started = time.perf_counter()
    status = await run(
        worker,
        unique,
        [
            ok("evil", **{"if": "${{ repeat('a', 26) + '!' matches '^(a|a)*$' }}"}),
            ok("plain", **{"if": "${{ ctx.stage matches '^s$' && !('a\\nb' matches 'a.b') }}"}),
            ok("lookahead", **{"if": "${{ 'ab' matches 'a(?=b)' }}"}),
        ],
    )
    steps = by_alias(status)
    assert steps["evil"].status == "Skipped", status
    assert steps["plain"].status == "Succeeded", status
    assert steps["lookahead"].status == "Errored", status
    assert "lookahead `(?=` is not supported" in steps["lookahead"].message
    assert time.perf_counter() - started < 20  # Python's re needed 5 s for 26 a's, 10 s for 27
