"""A step's rendered config, checked by its model (contracts/step_configs) at the step's entry."""

from __future__ import annotations

from typing import TypeVar

from activities.steps.base import StepInput, step_failed
from contracts.step_configs import ConfigError, StepConfig, parse_config

C = TypeVar("C", bound=StepConfig)


def typed_config(model: type[C], input: StepInput) -> C:
    """The config as ``model``; a bad one is a terminal failure naming every bad field."""
    try:
        return parse_config(model, input.config, uses=input.uses)
    except ConfigError as e:
        raise step_failed(str(e)) from None
