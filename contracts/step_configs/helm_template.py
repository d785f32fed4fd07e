"""``helm-template``'s config (Kargo's helm-template-config.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.step_configs._types import Bool, NonEmpty
from contracts.step_configs.base import StepConfig


class SetValue(StepConfig):
    key: NonEmpty
    value: str
    literal: Bool = False


class HelmTemplateConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "needs the `helm` binary on the worker's PATH (Kargo has Helm built in)",
    )

    path: NonEmpty
    out_path: NonEmpty
    out_layout: Literal["helm", "flat"] | None = None
    release_name: NonEmpty
    use_release_name: Bool = False
    namespace: str | None = None
    values_files: list[NonEmpty] | None = None
    ignore_missing_value_files: Bool = False
    set_values: list[SetValue] | None = None
    build_dependencies: Bool = False
    include_crds: Bool = Field(default=False, alias="includeCRDs")
    disable_hooks: Bool = False
    skip_tests: Bool = False
    kube_version: str | None = None
    api_versions: list[NonEmpty] | None = None
