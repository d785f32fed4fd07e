"""Promotion steps: one Temporal activity per Kargo step, named as in Kargo.

The step modules are imported lazily (on first use of ``STEP_ACTIVITIES`` or a step
function), so workflow code can import ``activities.steps.base`` for the contract
without pulling subprocess/git/YAML code into the workflow sandbox.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The Kargo step names (``uses:``) this worker can run, with the module of each.
_MODULES: dict[str, tuple[str, str]] = {
    "git-clone": ("activities.steps.git_clone", "git_clone"),
    "kustomize-set-image": ("activities.steps.kustomize_set_image", "kustomize_set_image"),
    "yaml-update": ("activities.steps.yaml_update", "yaml_update"),
    "git-commit": ("activities.steps.git_commit", "git_commit"),
    "git-push": ("activities.steps.git_push", "git_push"),
    "github-push": ("activities.steps.github_push", "github_push"),
    "git-clear": ("activities.steps.git_clear", "git_clear"),
    "git-tag": ("activities.steps.git_tag", "git_tag"),
    "git-open-pr": ("activities.steps.git_open_pr", "git_open_pr"),
    "git-wait-for-pr": ("activities.steps.git_wait_for_pr", "git_wait_for_pr"),
    "git-merge-pr": ("activities.steps.git_merge_pr", "git_merge_pr"),
    "kustomize-build": ("activities.steps.kustomize_build", "kustomize_build"),
    "helm-update-chart": ("activities.steps.helm_update_chart", "helm_update_chart"),
    "helm-template": ("activities.steps.helm_template", "helm_template"),
    "json-update": ("activities.steps.json_update", "json_update"),
    "yaml-parse": ("activities.steps.yaml_parse", "yaml_parse"),
    "json-parse": ("activities.steps.json_parse", "json_parse"),
    "yaml-merge": ("activities.steps.yaml_merge", "yaml_merge"),
    "toml-parse": ("activities.steps.toml_parse", "toml_parse"),
    "toml-update": ("activities.steps.toml_update", "toml_update"),
    "copy": ("activities.steps.file_copy", "copy"),
    "delete": ("activities.steps.file_delete", "delete"),
    "tar": ("activities.steps.tar", "tar"),
    "untar": ("activities.steps.untar", "untar"),
    "file-write": ("activities.steps.file_write", "file_write"),
    "http": ("activities.steps.http_request", "http_request"),
    "http-download": ("activities.steps.http_download", "http_download"),
    "oci-download": ("activities.steps.oci_download", "oci_download"),
    "oci-push": ("activities.steps.oci_push", "oci_push"),
    "argocd-update": ("activities.steps.argocd_update", "argocd_update"),
    "argocd-wait": ("activities.steps.argocd_wait", "argocd_wait"),
    "compose-output": ("activities.steps.compose_output", "compose_output"),
    "set-freight-alias": ("activities.steps.set_freight_alias", "set_freight_alias"),
    "set-metadata": ("activities.steps.set_metadata", "set_metadata"),
    "fail": ("activities.steps.fail", "fail"),
}

# The step functions share their modules' names (git_push.git_push), so import them
# from their modules; the package itself exports only this.
__all__ = ["STEP_ACTIVITIES"]


def __getattr__(name: str) -> Any:
    if name == "STEP_ACTIVITIES":
        #: Every step activity, for ``Worker(activities=...)``.
        value = [getattr(importlib.import_module(m), fn) for m, fn in _MODULES.values()]
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
