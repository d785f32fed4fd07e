"""Config of `argocd-wait` (Kargo's ArgoCDWaitConfig; the selector is argocd-common's)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from contracts.step_configs._types import AppSelector
from contracts.step_configs.base import StepConfig

WaitFor = Literal["health", "sync", "operation", "suspended", "degraded"]




class AppWait(StepConfig):
    """One Application by ``name``, or every one a ``selector`` matches."""

    name: str | None = Field(default=None, min_length=1)
    namespace: str | None = Field(default=None, min_length=1)
    selector: AppSelector | None = None
    wait_for: list[WaitFor] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _name_or_selector(self) -> AppWait:
        if bool(self.name) == (self.selector is not None):
            raise ValueError("set exactly one of 'name' and 'selector'")
        if self.wait_for is not None and len(set(self.wait_for)) != len(self.wait_for):
            raise ValueError("'waitFor' must not repeat a condition")
        return self


class ArgoCDWaitConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "the health seen between looks is kept in the working directory (Kargo: the step's shared state), so a move to another worker restarts the regression rule",
    )

    apps: list[AppWait] = Field(min_length=1)
