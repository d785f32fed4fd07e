"""``delete``'s config (Kargo's delete-config.json)."""

from __future__ import annotations

from pydantic import Field, model_validator

from contracts.step_configs._types import Bool, NonEmpty
from contracts.step_configs.base import StepConfig


class DeleteConfig(StepConfig):
    path: NonEmpty | None = None
    paths: list[NonEmpty] | None = Field(default=None, min_length=1)
    paths_are_globs: Bool = False
    strict: Bool = False

    @model_validator(mode="after")
    def _path_or_paths(self) -> DeleteConfig:
        if (self.path is None) == (self.paths is None):
            raise ValueError("set exactly one of 'path' and 'paths'")
        return self
