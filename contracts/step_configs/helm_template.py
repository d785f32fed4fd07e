"""``helm-template``'s config (Kargo's helm-template-config.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class SetValue(StepConfig):
    key: NonEmpty
    value: str
    literal: bool = False


class HelmTemplateConfig(StepConfig):
    path: NonEmpty
    out_path: NonEmpty
    out_layout: Literal["helm", "flat"] | None = None
    release_name: NonEmpty
    use_release_name: bool = False
    namespace: str | None = None
    values_files: list[NonEmpty] | None = None
    ignore_missing_value_files: bool = False
    set_values: list[SetValue] | None = None
    build_dependencies: bool = False
    include_crds: bool = Field(default=False, alias="includeCRDs")
    disable_hooks: bool = False
    skip_tests: bool = False
    kube_version: str | None = None
    api_versions: list[NonEmpty] | None = None
