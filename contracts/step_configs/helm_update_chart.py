"""``helm-update-chart``'s config (Kargo's helm-update-chart-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class ChartUpdate(StepConfig):
    repository: NonEmpty
    name: NonEmpty
    version: NonEmpty


class HelmUpdateChartConfig(StepConfig):
    path: NonEmpty
    charts: list[ChartUpdate] | None = Field(default=None, min_length=1)
