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

from activities.steps._common import get_list, get_str
from activities.steps.base import StepInput, StepResult, step_failed

KINDS = ("Stage", "Freight")


@activity.defn(name="set-metadata")
async def set_metadata(input: StepInput) -> StepResult:
    """Validate ``updates[]{kind, name, values}``; output ``metadata`` for the workflow."""
    unknown = sorted(set(input.config) - {"updates"})
    if unknown:
        raise step_failed(f"config field {unknown[0]!r} is not a field of the set-metadata step")
    updates = get_list(input.config, "updates", required=True)
    out = []
    for i, u in enumerate(updates):
        where = f"updates[{i}]"
        if not isinstance(u, dict):
            raise step_failed(f"config field {where!r} must be a mapping {{kind, name, values}}")
        extra = sorted(set(u) - {"kind", "name", "values"})
        if extra:
            raise step_failed(f"config field '{where}.{extra[0]}' is not a field of an update")
        kind = get_str(u, "kind", required=True, where=f"{where}.")
        if kind not in KINDS:
            raise step_failed(f"config field '{where}.kind' must be Stage or Freight, got {kind!r}")
        name = get_str(u, "name", required=True, where=f"{where}.")
        values = u.get("values")
        if not isinstance(values, dict) or not values:
            raise step_failed(f"config field '{where}.values' must be a non-empty mapping of key: value")
        try:
            json.dumps(values)
        except (TypeError, ValueError):
            raise step_failed(f"config field '{where}.values' must hold JSON data only") from None
        out.append({"kind": kind, "name": name, "values": copy.deepcopy(values)})
    return StepResult(outputs={"metadata": out}, message=f"{len(out)} metadata update(s) to apply")
