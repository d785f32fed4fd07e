"""`fail`: stop the promotion with a terminal failure.

Useful behind an ``if:`` (for example when an earlier step's output shows a problem).
The failure message is ``failed`` or ``failed: <message>``, as in Kargo.
"""

from __future__ import annotations

from temporalio import activity

from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, step_failed
from contracts.step_configs.fail import FailConfig


@activity.defn(name="fail")
async def fail(input: StepInput) -> StepResult:
    """Always raise a terminal failure carrying ``message``."""
    message = typed_config(FailConfig, input).message
    raise step_failed(f"failed: {message}" if message else "failed")
