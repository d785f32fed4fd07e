"""`set-freight-alias`: give a piece of Freight a new alias.

The Freight catalog lives in the ProjectWorkflow, not in files this worker can change,
so this activity only VALIDATES the request and returns it as an output::

    {"freightAlias": {"freight": "<name>", "alias": "<new alias>"}}

The promotion workflow applies it to the catalog (which enforces that aliases are
unique within the project) after the step succeeds.

Config (Kargo's): ``name`` (the Freight's name) and ``alias``, both required.
"""

from __future__ import annotations

import re

from temporalio import activity

from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, step_failed
from contracts.step_configs.set_freight_alias import SetFreightAliasConfig

#: An alias is a Kubernetes label value in Kargo (it is also the freight's alias label).
_ALIAS = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


@activity.defn(name="set-freight-alias")
async def set_freight_alias(input: StepInput) -> StepResult:
    """Validate ``name``/``alias``; output ``freightAlias`` for the workflow to apply."""
    config = typed_config(SetFreightAliasConfig, input)
    name, alias = config.name, config.alias
    if not _ALIAS.match(alias):
        raise step_failed(
            f"config field 'alias': {alias!r} is not a valid alias (up to 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit)"
        )
    return StepResult(
        outputs={"freightAlias": {"freight": name, "alias": alias}},
        message=f"alias of Freight {name!r} to become {alias!r}",
    )
