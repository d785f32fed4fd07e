"""``file-write``'s config (Kargo's file-write-config.json)."""

from __future__ import annotations

from typing import Annotated

from contracts.step_configs._types import Bool, NonEmpty, matching
from contracts.step_configs.base import StepConfig


class FileWriteConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "a file that already holds exactly these contents counts as written, even without `overwrite`",
        "`permissions` may not be executable or world-writable",
    )

    path: NonEmpty
    contents: str
    permissions: Annotated[str, matching(r"^0[0-7]{3}$", 'an octal file mode such as "0644"')] | None = None
    overwrite: Bool = False
