"""`compose-output`: turn its config into the step's outputs.

Every ``key: value`` of the (already rendered) config becomes ``outputs['<alias>'].key``.
Inside a PromotionTask the workflow also exposes them under the task's alias (Kargo's
"task output propagation"); the activity itself only returns them.
"""

from __future__ import annotations

import copy

from temporalio import activity

from activities.steps.base import StepInput, StepResult, step_failed


@activity.defn(name="compose-output")
async def compose_output(input: StepInput) -> StepResult:
    """Return the config as outputs; an empty config is refused, as in Kargo."""
    if not input.config:
        raise step_failed("config must have at least one key: value pair to output")
    return StepResult(outputs=copy.deepcopy(input.config))
