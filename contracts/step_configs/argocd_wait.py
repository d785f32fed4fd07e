"""Config of `argocd-wait` (Kargo's ArgoCDWaitConfig; the selector is argocd-common's)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from contracts.step_configs.base import StepConfig

WaitFor = Literal["health", "sync", "operation", "suspended", "degraded"]


class LabelSelectorRequirement(StepConfig):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"'values' must not be empty for operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"'values' must be empty for operator {self.operator}")
        return self


class AppSelector(StepConfig):
    """Kubernetes label selector: at least one criterion."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None

    @model_validator(mode="after")
    def _has_a_criterion(self) -> AppSelector:
        if not self.match_labels and not self.match_expressions:
            raise ValueError("a selector needs matchLabels or matchExpressions")
        return self


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
    apps: list[AppWait] = Field(min_length=1)
