"""Every step Gantry runs, by Kargo's name, with its config model (one module per step).

This registry is the one list of runnable steps: ``validate``/``apply`` refuse a ``uses`` not in
it, the worker registers an activity for each (activities/steps/__init__.py must agree; a test
checks), and docs/kargo-compatibility.md's table is built from it.
"""

from __future__ import annotations

from contracts.step_configs.argocd_update import ArgoCDUpdateConfig
from contracts.step_configs.argocd_wait import ArgoCDWaitConfig
from contracts.step_configs.base import ConfigError, ConfigIssue, StepConfig, config_issues, parse_config
from contracts.step_configs.compose_output import ComposeOutputConfig
from contracts.step_configs.fail import FailConfig
from contracts.step_configs.file_copy import CopyConfig
from contracts.step_configs.file_delete import DeleteConfig
from contracts.step_configs.file_write import FileWriteConfig
from contracts.step_configs.git_clear import GitClearConfig
from contracts.step_configs.git_clone import GitCloneConfig
from contracts.step_configs.git_commit import GitCommitConfig
from contracts.step_configs.git_merge_pr import GitMergePRConfig
from contracts.step_configs.git_open_pr import GitOpenPRConfig
from contracts.step_configs.git_push import GitPushConfig
from contracts.step_configs.git_tag import GitTagConfig
from contracts.step_configs.git_wait_for_pr import GitWaitForPRConfig
from contracts.step_configs.github_push import GitHubPushConfig
from contracts.step_configs.helm_template import HelmTemplateConfig
from contracts.step_configs.helm_update_chart import HelmUpdateChartConfig
from contracts.step_configs.http_download import HTTPDownloadConfig
from contracts.step_configs.http_request import HTTPConfig
from contracts.step_configs.json_parse import JSONParseConfig
from contracts.step_configs.json_update import JSONUpdateConfig
from contracts.step_configs.kustomize_build import KustomizeBuildConfig
from contracts.step_configs.kustomize_set_image import KustomizeSetImageConfig
from contracts.step_configs.oci_download import OCIDownloadConfig
from contracts.step_configs.oci_push import OCIPushConfig
from contracts.step_configs.set_freight_alias import SetFreightAliasConfig
from contracts.step_configs.set_metadata import SetMetadataConfig
from contracts.step_configs.tar import TarConfig
from contracts.step_configs.toml_parse import TomlParseConfig
from contracts.step_configs.toml_update import TomlUpdateConfig
from contracts.step_configs.untar import UntarConfig
from contracts.step_configs.yaml_merge import YAMLMergeConfig
from contracts.step_configs.yaml_parse import YAMLParseConfig
from contracts.step_configs.yaml_update import YAMLUpdateConfig

#: Kargo step name -> its config model.
STEP_CONFIGS: dict[str, type[StepConfig]] = {
    "argocd-update": ArgoCDUpdateConfig,
    "argocd-wait": ArgoCDWaitConfig,
    "compose-output": ComposeOutputConfig,
    "copy": CopyConfig,
    "delete": DeleteConfig,
    "fail": FailConfig,
    "file-write": FileWriteConfig,
    "git-clear": GitClearConfig,
    "git-clone": GitCloneConfig,
    "git-commit": GitCommitConfig,
    "git-merge-pr": GitMergePRConfig,
    "git-open-pr": GitOpenPRConfig,
    "git-push": GitPushConfig,
    "git-tag": GitTagConfig,
    "git-wait-for-pr": GitWaitForPRConfig,
    "github-push": GitHubPushConfig,
    "helm-template": HelmTemplateConfig,
    "helm-update-chart": HelmUpdateChartConfig,
    "http": HTTPConfig,
    "http-download": HTTPDownloadConfig,
    "json-parse": JSONParseConfig,
    "json-update": JSONUpdateConfig,
    "kustomize-build": KustomizeBuildConfig,
    "kustomize-set-image": KustomizeSetImageConfig,
    "oci-download": OCIDownloadConfig,
    "oci-push": OCIPushConfig,
    "set-freight-alias": SetFreightAliasConfig,
    "set-metadata": SetMetadataConfig,
    "tar": TarConfig,
    "toml-parse": TomlParseConfig,
    "toml-update": TomlUpdateConfig,
    "untar": UntarConfig,
    "yaml-merge": YAMLMergeConfig,
    "yaml-parse": YAMLParseConfig,
    "yaml-update": YAMLUpdateConfig,
}

__all__ = ["STEP_CONFIGS", "ConfigError", "ConfigIssue", "StepConfig", "config_issues", "parse_config"]
