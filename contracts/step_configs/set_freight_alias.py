"""``set-freight-alias``'s config (Kargo's set-freight-alias-config.json)."""

from __future__ import annotations

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class SetFreightAliasConfig(StepConfig):
    name: NonEmpty
    alias: NonEmpty
