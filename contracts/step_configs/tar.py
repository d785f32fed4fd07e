"""Config of `tar` (Kargo's TarConfig)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs.base import StepConfig


class TarConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "an unsafe entry fails the step (Kargo skips it quietly); hard links are refused (Kargo skips them)",
        "`.git` is never archived (Kargo skips it only when `ignore` is unset)",
    )

    in_path: str = Field(min_length=1)
    out_path: str = Field(min_length=1)
    #: .gitignore-style patterns, one a line, of what not to archive
    ignore: str | None = Field(default=None, min_length=1)
    gzip: bool = False
