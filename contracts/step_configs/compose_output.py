"""``compose-output``'s config: any ``key: value`` pairs, at least one (Kargo's
compose-output-config.json); each becomes an output of the step."""

from __future__ import annotations

from pydantic import ConfigDict, model_validator

from contracts.step_configs.base import StepConfig


class ComposeOutputConfig(StepConfig):
    model_config = ConfigDict(extra="allow", alias_generator=None)

    @model_validator(mode="after")
    def _not_empty(self) -> ComposeOutputConfig:
        if not self.model_extra:
            raise ValueError("the config needs at least one key: value pair to output")
        return self
