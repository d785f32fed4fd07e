"""``git-tag``'s config (Kargo's git-tag-config.json)."""

from __future__ import annotations

from contracts.step_configs._types import Bool, NonEmpty
from contracts.step_configs.base import StepConfig


class GitTagConfig(StepConfig):
    path: NonEmpty
    tag: NonEmpty
    message: NonEmpty
    force: Bool = False
