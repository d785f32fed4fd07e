"""``git-clear``'s config (Kargo's git-clear-config.json)."""

from __future__ import annotations

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class GitClearConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "files that git ignores are removed too (Kargo keeps them)",
    )

    path: NonEmpty
