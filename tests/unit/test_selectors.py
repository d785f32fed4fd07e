"""Label selectors and name patterns (pipeline.selectors) as Kubernetes and Kargo read them,
and the ProjectConfig promotion policies that use them (pipeline.auto_promotion)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.auto_promotion import auto_promotion_enabled
from pipeline.manifests import ProjectConfig, Stage
from pipeline.selectors import LabelSelector, name_matcher


def stage(name: str, labels: dict[str, str] | None = None) -> Stage:
    return Stage.model_validate(
        {
            "metadata": {"name": name, "namespace": "p", "labels": labels or {}},
            "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": True}}]},
        }
    )


def config(*policies: dict[str, Any]) -> ProjectConfig:
    return ProjectConfig.model_validate({"metadata": {"name": "p", "namespace": "p"}, "spec": {"promotionPolicies": list(policies)}})


def test_match_expressions_alone_select_only_matching_stages() -> None:
    """#15 regression: a `tier In [dev]` policy turned auto-promotion on for a tier=prod Stage."""
    policy = {"stageSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["dev"]}]}, "autoPromotionEnabled": True}
    cfg = config(policy)
    assert auto_promotion_enabled(cfg, stage("dev", {"tier": "dev"}))
    assert not auto_promotion_enabled(cfg, stage("prod", {"tier": "prod"}))
    assert not auto_promotion_enabled(cfg, stage("bare"))


def test_labels_and_expressions_and_name_are_anded() -> None:
    selector = {
        "name": "glob:app-*",
        "matchLabels": {"team": "a"},
        "matchExpressions": [
            {"key": "tier", "operator": "NotIn", "values": ["prod"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "region", "operator": "Exists"},
        ],
    }
    cfg = config({"stageSelector": selector, "autoPromotionEnabled": True})
    ok = {"team": "a", "tier": "dev", "region": "eu"}
    assert auto_promotion_enabled(cfg, stage("app-1", ok))
    assert not auto_promotion_enabled(cfg, stage("web-1", ok))  # name
    assert not auto_promotion_enabled(cfg, stage("app-1", ok | {"team": "b"}))  # matchLabels
    assert not auto_promotion_enabled(cfg, stage("app-1", ok | {"tier": "prod"}))  # NotIn
    assert auto_promotion_enabled(cfg, stage("app-1", {"team": "a", "region": "eu"}))  # NotIn: absent key matches
    assert not auto_promotion_enabled(cfg, stage("app-1", ok | {"canary": ""}))  # DoesNotExist
    assert not auto_promotion_enabled(cfg, stage("app-1", {"team": "a", "tier": "dev"}))  # Exists


def test_first_matching_policy_wins() -> None:
    cfg = config(
        {"stageSelector": {"matchLabels": {"tier": "prod"}}, "autoPromotionEnabled": False},
        {"stageSelector": {}, "autoPromotionEnabled": True},
    )
    assert not auto_promotion_enabled(cfg, stage("prod", {"tier": "prod"}))
    assert auto_promotion_enabled(cfg, stage("dev", {"tier": "dev"}))


@pytest.mark.parametrize(
    ("selector", "field", "message"),
    [
        ({"matchExpressions": [{"key": "tier", "operator": "Inn", "values": ["dev"]}]}, "matchExpressions.0.operator", "'In', 'NotIn', 'Exists' or 'DoesNotExist'"),
        ({"matchExpressions": [{"key": "tier", "operator": "In"}]}, "matchExpressions.0", "needs at least one value"),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]}, "matchExpressions.0", "takes no 'values'"),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "value": ["x"]}]}, "matchExpressions.0.value", "Extra inputs"),
        ({"matchExpressions": [{"key": "bad key", "operator": "Exists"}]}, "matchExpressions.0.key", "invalid label key"),
        ({"matchLabels": {"tier": "not ok"}}, "matchLabels", "invalid label value"),
        ({"name": "regx:dev-.*"}, "name", "did you mean 'regex'"),
        ({"name": "regex:(?=x)"}, "name", "invalid regular expression"),
        ({"name": "glob:[x"}, "name", "invalid glob pattern"),
    ],
)
def test_bad_selectors_are_refused_naming_the_field(selector: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        config({"stageSelector": selector, "autoPromotionEnabled": True})
    text = str(err.value)
    assert f"stageSelector.{field}" in text and message in text


def test_policy_needs_exactly_one_target_and_unique_names() -> None:
    with pytest.raises(ValidationError, match="exactly one of stage or stageSelector"):
        config({"autoPromotionEnabled": True})
    with pytest.raises(ValidationError, match="exactly one of stage or stageSelector"):
        config({"stage": "a", "stageSelector": {"name": "a"}})
    with pytest.raises(ValidationError, match=r"'dev' already has a policy at promotionPolicies\[0\]"):
        config({"stage": "dev"}, {"stageSelector": {"name": "dev"}})
    config({"stageSelector": {"name": "glob:*"}}, {"stageSelector": {"name": "glob:*"}})  # patterns may repeat


def test_name_patterns_are_kargos() -> None:
    assert name_matcher("regex:dev")("my-dev-1")  # Go's MatchString is unanchored
    assert name_matcher("regexp:^dev$")("dev") and not name_matcher("regexp:^dev$")("dev-1")
    assert name_matcher("glob:{dev,uat}-*")("uat-2") and not name_matcher("glob:dev-*")("dev-a/b")
    assert name_matcher("dev")("dev") and not name_matcher("dev")("dev-1")


def test_selector_query_text() -> None:
    sel = LabelSelector.model_validate(
        {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x", "y"]}, {"key": "c", "operator": "DoesNotExist"}]}
    )
    assert sel.query() == "a=1,b=2,t notin (x,y),!c"
    assert LabelSelector().matches({"any": "thing"})


def test_auto_rollback_is_refused_not_ignored() -> None:
    with pytest.raises(ValidationError, match="'autoRollback' is not supported by Gantry yet"):
        config({"stage": "dev", "autoRollback": {"onPromotion": ["Failed"]}})
