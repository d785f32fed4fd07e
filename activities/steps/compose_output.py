"""`compose-output`: turn its config into the step's outputs.

Every ``key: value`` of the (already rendered) config becomes ``outputs['<alias>'].key``.
Inside a PromotionTask the workflow also exposes them under the task's alias (Kargo's
"task output propagation"); the activity itself only returns them.
"""

from __future__ import annotations

import copy

from temporalio import activity

from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult
from contracts.step_configs.compose_output import ComposeOutputConfig


@activity.defn(name="compose-output")
async def compose_output(input: StepInput) -> StepResult:
    """Return the config as outputs; an empty config is refused, as in Kargo."""
    typed_config(ComposeOutputConfig, input)
    return StepResult(outputs=copy.deepcopy(input.config))
