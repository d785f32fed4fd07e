"""``json-update``'s config (Kargo's json-update-config.json)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class KeyUpdate(StepConfig):
    """Set the value at ``key`` (a dotted path)."""

    key: NonEmpty
    value: Any


class JSONUpdateConfig(StepConfig):
    path: NonEmpty
    updates: list[KeyUpdate] = Field(min_length=1)
