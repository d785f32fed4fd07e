"""Config of `toml-parse` (Kargo's TOMLParseConfig)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs.base import StepConfig


class TomlParseOutput(StepConfig):
    """One output: ``fromExpression`` is evaluated over the parsed document."""

    name: str = Field(min_length=1)
    from_expression: str = Field(min_length=1)


class TomlParseConfig(StepConfig):
    path: str = Field(min_length=1)
    outputs: list[TomlParseOutput] = Field(min_length=1)
