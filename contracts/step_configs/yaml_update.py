"""``yaml-update``'s config (Kargo's yaml-update-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig
from contracts.step_configs.json_update import KeyUpdate


class YAMLUpdateConfig(StepConfig):
    path: NonEmpty
    updates: list[KeyUpdate] = Field(min_length=1)
