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
    KARGO_DIFFERENCES = (
        "`file://` chart archives are packaged reproducibly, so their bytes differ from `helm package`'s",
        "repository names (`@name`, `alias:name`) and `apiVersion: v1` charts (`requirements.yaml`) are refused; provenance files are not verified",
        "the commit message lists the versions changed in `Chart.yaml` (Kargo's lists the changes in `Chart.lock`)",
    )

    path: NonEmpty
    charts: list[ChartUpdate] | None = Field(default=None, min_length=1)
