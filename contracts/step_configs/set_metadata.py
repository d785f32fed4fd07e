"""``set-metadata``'s config (Kargo's set-metadata-config.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class MetadataUpdate(StepConfig):
    kind: Literal["Stage", "Freight"]
    name: NonEmpty
    values: dict[str, Any] = Field(min_length=1)


class SetMetadataConfig(StepConfig):
    updates: list[MetadataUpdate] = Field(min_length=1)
