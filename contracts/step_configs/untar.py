"""Config of `untar` (Kargo's UntarConfig)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs.base import StepConfig


class UntarConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "an unsafe entry fails the step (Kargo skips it quietly and extracts the rest); hard links are refused (Kargo skips them)",
        "`.git` is never extracted (Kargo skips it only when `ignore` is unset)",
    )

    in_path: str = Field(min_length=1)
    out_path: str = Field(min_length=1)
    strip_components: int = Field(default=0, ge=0)
    #: .gitignore-style patterns, one a line, of what not to extract
    ignore: str | None = Field(default=None, min_length=1)
