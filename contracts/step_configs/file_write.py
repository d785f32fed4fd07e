"""``file-write``'s config (Kargo's file-write-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import Bool, NonEmpty
from contracts.step_configs.base import StepConfig


class FileWriteConfig(StepConfig):
    path: NonEmpty
    contents: str
    permissions: str | None = Field(default=None, pattern=r"^0[0-7]{3}$")
    overwrite: Bool = False
