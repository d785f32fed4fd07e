"""``kustomize-build``'s config (Kargo's kustomize-build-config.json)."""

from __future__ import annotations

from typing import Literal

from contracts.step_configs._types import NonEmpty
from contracts.step_configs.base import StepConfig


class HelmPlugin(StepConfig):
    api_versions: list[NonEmpty] | None = None
    kube_version: str | None = None


class Plugin(StepConfig):
    helm: HelmPlugin | None = None


class KustomizeBuildConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "each output file holds the resource as kustomize printed it (Kargo re-serializes it with sorted keys)",
        "kustomize itself is trusted to stay in the working directory (Kargo builds on a filesystem confined to it)",
    )

    path: NonEmpty
    out_path: NonEmpty
    output_format: Literal["kargo", "kustomize"] | None = None
    plugin: Plugin | None = None
