"""``copy``'s config (Kargo's copy-config.json)."""

from __future__ import annotations

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class CopyConfig(StepConfig):
    in_path: NonEmpty
    out_path: NonEmpty
    ignore: NonEmpty | None = None
