"""``json-parse``'s config (Kargo's json-parse-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import NamedExpression, NonEmpty
from contracts.step_configs.base import StepConfig


class JSONParseConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "the file must hold a mapping at the top level",
    )

    path: NonEmpty
    outputs: list[NamedExpression] = Field(min_length=1)
