"""The typed configs of toml-parse, toml-update, tar, untar, argocd-wait, oci-push and
github-push: Kargo's documented examples pass, typos and Kargo's schema violations are named,
fields holding expressions wait for rendering; every model is a registered, runnable step."""

from __future__ import annotations

import pytest

from activities.steps import _MODULES
from contracts.step_configs import STEP_CONFIGS, config_issues

KARGO_EXAMPLES = {
    "toml-parse": {"path": "./src/config.toml", "outputs": [{"name": "imageTag", "fromExpression": "image.tag"}]},
    "toml-update": {"path": "./src/configs/settings.toml",
                    "updates": [{"key": "image.tag", "value": '${{ imageFrom("my/image").Tag }}'}]},
    "tar": {"inPath": "./source-code", "outPath": "./artifacts/bundle.tar.gz", "gzip": True, "ignore": "temp/\n.DS_Store\n"},
    "untar": {"inPath": "./artifacts/bundle.tar.gz", "outPath": "./extracted", "stripComponents": 1, "ignore": "*.log\n"},
    "argocd-wait": {"apps": [{"name": "my-app", "waitFor": ["health", "sync"]},
                             {"selector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["uat"]}]}}]},
    "oci-push": {"srcRef": "registry.example.com/myapp@${{ imageFrom('registry.example.com/myapp').digest }}",
                 "destRef": "registry.example.com/myapp:v1.2.3",
                 "annotations": {"io.kargo.promotion": "${{ ctx.promotion }}", "index:org.opencontainers.image.source": "x"}},
    "github-push": {"path": "./out", "targetBranch": "stage/${{ ctx.stage }}", "maxAttempts": 3},
}


@pytest.mark.parametrize("uses", sorted(KARGO_EXAMPLES))
def test_kargo_examples_pass_validation_and_the_step_runs(uses: str) -> None:
    assert config_issues(STEP_CONFIGS[uses], KARGO_EXAMPLES[uses], rendered=False) == []
    assert uses in _MODULES  # a model for a step the worker runs


@pytest.mark.parametrize(
    "uses, config, path, message",
    [
        ("toml-update", {"path": "a.toml", "updates": [{"key": "a", "vaule": 1}]}, "updates[0].vaule", "did you mean 'value'?"),
        ("toml-parse", {"path": "a.toml", "outputs": []}, "outputs", "at least 1 item"),
        ("tar", {"inPath": "a", "outpath": "b"}, "outpath", "did you mean 'outPath'?"),
        ("untar", {"inPath": "a", "outPath": "b", "stripComponents": -1}, "stripComponents", "greater than or equal to 0"),
        ("argocd-wait", {"apps": [{"name": "a", "waitFor": ["healthy"]}]}, "apps[0].waitFor[0]", "'health'"),
        ("argocd-wait", {"apps": [{"name": "a", "selector": {"matchLabels": {"a": "b"}}}]}, "apps[0]", "exactly one"),
        ("oci-push", {"srcRef": "r.io/a", "destRef": "r.io/b:1"}, "srcRef", "should match pattern"),
        ("oci-push", {"srcRef": "r.io/a:1", "destRef": "r.io/b@sha256:" + "a" * 64}, "destRef", "should match pattern"),
        ("github-push", {"path": "a", "targetBranch": "x", "generateTargetBranch": True}, "", "mutually exclusive"),
        ("github-push", {"path": "a", "maxAttempts": 0}, "maxAttempts", "greater than or equal to 1"),
    ],
)
def test_bad_configs_are_named(uses: str, config: dict, path: str, message: str) -> None:
    issues = config_issues(STEP_CONFIGS[uses], config, rendered=False)
    assert any(i.path == path and message in i.message for i in issues), issues


def test_an_expression_field_is_checked_after_rendering() -> None:
    model = STEP_CONFIGS["untar"]
    raw = {"inPath": "a", "outPath": "b", "stripComponents": "${{ vars.strip }}"}
    assert config_issues(model, raw, rendered=False) == []
    assert [i.path for i in config_issues(model, {**raw, "stripComponents": "two"}, rendered=True)] == ["stripComponents"]
