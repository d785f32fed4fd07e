"""`set-metadata`: set key/value metadata on Stages or Freight.

Stage and Freight state lives in Temporal workflows (the ProjectWorkflow catalog and the
StageWorkflows), so this activity only VALIDATES the updates and returns them::

    {"metadata": [{"kind": "Stage" | "Freight", "name": "...", "values": {...}}, ...]}

The promotion workflow applies them after the step succeeds. As in Kargo, each key of
``values`` replaces that key's value (other keys are kept); values are any JSON data.
"""

from __future__ import annotations

import copy
import json

from temporalio import activity

from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, step_failed
from contracts.step_configs.set_metadata import SetMetadataConfig


@activity.defn(name="set-metadata")
async def set_metadata(input: StepInput) -> StepResult:
    """Validate ``updates[]{kind, name, values}``; output ``metadata`` for the workflow."""
    out = []
    for i, u in enumerate(typed_config(SetMetadataConfig, input).updates):
        try:
            json.dumps(u.values)
        except (TypeError, ValueError):
            raise step_failed(f"config field 'updates[{i}].values' must hold JSON data only") from None
        out.append({"kind": u.kind, "name": u.name, "values": copy.deepcopy(u.values)})
    return StepResult(outputs={"metadata": out}, message=f"{len(out)} metadata update(s) to apply")
