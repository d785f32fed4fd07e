"""Every step Gantry runs, by Kargo's name, with its config model (one module per step).

This registry is the one list of runnable steps: ``validate``/``apply`` refuse a ``uses`` not in
it, the worker registers an activity for each (activities/steps/__init__.py must agree; a test
checks), and docs/kargo-compatibility.md's table is built from it.
"""

from __future__ import annotations

from contracts.step_configs.argocd_wait import ArgoCDWaitConfig
from contracts.step_configs.base import ConfigError, ConfigIssue, StepConfig, config_issues, parse_config
from contracts.step_configs.github_push import GitHubPushConfig
from contracts.step_configs.oci_push import OCIPushConfig
from contracts.step_configs.tar import TarConfig
from contracts.step_configs.toml_parse import TomlParseConfig
from contracts.step_configs.toml_update import TomlUpdateConfig
from contracts.step_configs.untar import UntarConfig

#: Kargo step name -> its config model. Filled by the step modules below as they get models.
STEP_CONFIGS: dict[str, type[StepConfig]] = {
    "argocd-wait": ArgoCDWaitConfig,
    "github-push": GitHubPushConfig,
    "oci-push": OCIPushConfig,
    "tar": TarConfig,
    "toml-parse": TomlParseConfig,
    "toml-update": TomlUpdateConfig,
    "untar": UntarConfig,
}

__all__ = ["STEP_CONFIGS", "ConfigError", "ConfigIssue", "StepConfig", "config_issues", "parse_config"]
