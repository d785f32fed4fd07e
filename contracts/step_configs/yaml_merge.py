"""``yaml-merge``'s config (Kargo's yaml-merge-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import Bool, NonEmpty
from contracts.step_configs.base import StepConfig


class YAMLMergeConfig(StepConfig):
    in_files: list[str] = Field(min_length=1)
    out_file: NonEmpty
    ignore_missing_files: Bool = False
