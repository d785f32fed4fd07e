"""Config of `toml-update` (Kargo's TOMLUpdateConfig)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts.step_configs.base import StepConfig


class TomlUpdate(StepConfig):
    """A key in sjson path syntax and its new scalar value (checked when applied)."""

    key: str = Field(min_length=1)
    value: Any = Field()


class TomlUpdateConfig(StepConfig):
    path: str = Field(min_length=1)
    updates: list[TomlUpdate] = Field(min_length=1)
