"""``yaml-parse``'s config (Kargo's yaml-parse-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import NamedExpression, NonEmpty
from contracts.step_configs.base import StepConfig


class YAMLParseConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "the file must hold a mapping at the top level; timestamps come out as strings",
    )

    path: NonEmpty
    outputs: list[NamedExpression] = Field(min_length=1)
