"""``fail``'s config (Kargo's fail-config.json)."""

from __future__ import annotations

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class FailConfig(StepConfig):
    message: NonEmpty | None = None
