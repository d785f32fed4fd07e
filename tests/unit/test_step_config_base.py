"""contracts/step_configs/base.py: one model checks a step config before and after rendering."""

from __future__ import annotations

import pytest
from pydantic import Field

from contracts.step_configs import ConfigError, StepConfig, config_issues, parse_config


class _Author(StepConfig):
    name: str | None = None
    email: str | None = None


class _Config(StepConfig):
    repo_url: str = Field(alias="repoURL")
    target_branch: str | None = None
    max_attempts: int = 10
    author: _Author | None = None


def test_a_misspelt_field_is_refused_with_the_field_it_meant() -> None:
    issues = config_issues(_Config, {"repoURL": "x", "targetBrnach": "main", "author": {"nmae": "a"}}, rendered=False)
    assert {(i.path, i.message) for i in issues} == {
        ("targetBrnach", "unknown field 'targetBrnach'; did you mean 'targetBranch'?"),
        ("author.nmae", "unknown field 'nmae'; did you mean 'name'?"),
    }


def test_fields_holding_expressions_wait_for_rendering() -> None:
    raw = {"repoURL": "${{ vars.repo }}", "maxAttempts": "${{ vars.n }}", "author": "${{ vars.author }}"}
    assert config_issues(_Config, raw, rendered=False) == []
    assert [i.path for i in config_issues(_Config, {"maxAttempts": "many"}, rendered=False)] == ["repoURL", "maxAttempts"]


def test_after_rendering_the_whole_config_is_typed() -> None:
    config = parse_config(_Config, {"repoURL": "https://git.test/r.git", "maxAttempts": 3})
    assert (config.repo_url, config.max_attempts, config.target_branch) == ("https://git.test/r.git", 3, None)
    with pytest.raises(ConfigError, match=r"git-push: config field 'repoURL': Input should be a valid string"):
        parse_config(_Config, {"repoURL": 1}, uses="git-push")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config(_Config, ["x"], uses="git-push")


def test_a_rule_across_fields_names_the_field_and_waits_for_expressions_beside_it() -> None:
    from contracts.step_configs.git_push import GitPushConfig

    assert [(i.path, i.message) for i in config_issues(GitPushConfig, {"path": "a", "tag": "v1", "force": True}, rendered=False)] == [
        ("force", "cannot be set when pushing a 'tag'")
    ]
    assert config_issues(GitPushConfig, {"path": "a", "tag": "${{ vars.tag }}", "force": True}, rendered=False) == []
