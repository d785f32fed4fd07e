"""`fail`: stop the promotion with a terminal failure.

Useful behind an ``if:`` (for example when an earlier step's output shows a problem).
The failure message is ``failed`` or ``failed: <message>``, as in Kargo.
"""

from __future__ import annotations

from temporalio import activity

from activities.steps.base import StepInput, StepResult, step_failed


@activity.defn(name="fail")
async def fail(input: StepInput) -> StepResult:
    """Always raise a terminal failure carrying ``message``."""
    unknown = sorted(set(input.config) - {"message"})
    if unknown:
        raise step_failed(f"config field {unknown[0]!r} is not a field of the fail step")
    message = input.config.get("message")
    if message is not None and not isinstance(message, str):
        raise step_failed("config field 'message' must be a string")
    raise step_failed(f"failed: {message}" if message else "failed")
