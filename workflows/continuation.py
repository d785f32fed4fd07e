"""When a long-lived workflow continues as new: one rule for every workflow that never ends.

Project, Stage, Warehouse and Freight workflows loop for months. Each continues as new when
Temporal suggests it (history count or size near the server's limits) or when its history
reaches its own `max_history`, whichever comes first, and only once every update and
signal handler in flight has finished, so nothing accepted is lost on the way to the next
run. What they carry over is their own small state; keeping that state bounded is each
workflow's job (see docs/architecture.md, "State that does not grow").
"""

from __future__ import annotations

from typing import Any, NoReturn

from temporalio import workflow


def due(max_history: int) -> bool:
    """True when this run should hand over to a new one."""
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() >= max_history


async def hand_over(next_input: Any, **options: Any) -> NoReturn:
    """Wait for the handlers in flight, then continue as new with `next_input` (and any of
    `workflow.continue_as_new`'s options, e.g. `memo`)."""
    await workflow.wait_condition(workflow.all_handlers_finished)
    workflow.continue_as_new(next_input, **options)
