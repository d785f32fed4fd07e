"""The rules behind `promote --downstream-from`, `refresh stage` and `get projectconfig`
(pipeline.availability, pipeline.auto_promotion, client.documents), without a server."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema

from client.documents import policy_text, project_config_document
from pipeline.auto_promotion import refresh_offers
from pipeline.availability import downstream_of, downstream_refusal
from pipeline.manifests import ManifestSet, load_sourced, parse_documents

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"

TEXT = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: p, namespace: p}
spec:
  promotionPolicies:
    - stageSelector: {name: "glob:qa*", matchExpressions: [{key: tier, operator: NotIn, values: [prod]}]}
      autoPromotionEnabled: true
    - stage: prod
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: dev, namespace: p}
spec:
  requestedFreight:
    - origin: {kind: Warehouse, name: app}
      sources: {direct: true}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: qa, namespace: p, labels: {tier: test}}
spec:
  requestedFreight:
    - origin: {kind: Warehouse, name: app}
      sources: {stages: [dev]}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: qa2, namespace: p}
spec:
  requestedFreight:
    - origin: {kind: Warehouse, name: app}
      sources: {stages: [dev], requiredSoakTime: 1h, autoPromotionOptions: {selectionPolicy: MatchUpstream}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: prod, namespace: p}
spec:
  requestedFreight:
    - origin: {kind: Warehouse, name: app}
      sources: {stages: [qa]}
    - origin: {kind: Warehouse, name: lib}
      sources: {stages: [dev]}
"""
PROJECT = ManifestSet().merge([load_sourced(d) for d in parse_documents(TEXT, "p.yaml")]).projects["p"]


def freight(name: str, discovered: str, *, origin: str = "app", current: tuple[str, ...] = (), verified: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "alias": f"{name}-alias",
        "origin": {"kind": "Warehouse", "name": origin},
        "discoveredAt": discovered,
        "status": {
            "currentlyIn": {s: {"since": "2026-12-01T08:00:00+00:00"} for s in current},
            "verifiedIn": {s: {"verifiedAt": at} for s, at in (verified or {}).items()},
        },
    }


def test_downstream_of_takes_the_origin_from_the_stage() -> None:
    assert downstream_of(PROJECT.stages, "dev", "app") == ["qa", "qa2"]
    assert downstream_of(PROJECT.stages, "dev", "lib") == ["prod"]
    assert downstream_of(PROJECT.stages, "prod", "app") == []


def test_downstream_refusals_name_the_reason() -> None:
    fresh = freight("f1", "2026-12-01T09:00:00+00:00", current=("dev",))
    assert downstream_refusal(PROJECT.stages, "dev", fresh, NOW) == "freight f1-alias is not verified in stage dev (nor approved for stage qa)"
    assert "no downstream stages" in downstream_refusal(PROJECT.stages, "prod", fresh, NOW)
    soaking = freight("f1", "2026-12-01T09:00:00+00:00", current=("dev",), verified={"dev": "2026-12-01T09:30:00+00:00"})
    assert "soaking in dev" in downstream_refusal(PROJECT.stages, "dev", soaking, NOW)  # qa2 needs 1h; all or none
    assert downstream_refusal(PROJECT.stages, "dev", soaking, NOW, wait_for_soak=True) == ""
    soaked = freight("f1", "2026-12-01T09:00:00+00:00", current=("dev",), verified={"dev": "2026-12-01T08:30:00+00:00"})
    assert downstream_refusal(PROJECT.stages, "dev", soaked, NOW) == ""


def test_refresh_offers_the_newest_available_or_what_the_upstream_has() -> None:
    old = freight("old", "2026-12-01T07:00:00+00:00", current=("dev",), verified={"dev": "2026-12-01T08:00:00+00:00"})
    new = freight("new", "2026-12-01T08:00:00+00:00", verified={"dev": "2026-12-01T08:10:00+00:00"})
    new["status"]["verifiedIn"]["dev"]["longestSoak"] = "10m0s"  # it was in dev, and left
    unverified = freight("newest", "2026-12-01T09:00:00+00:00")
    everything = [old, new, unverified]
    assert [(o.freight, o.upstream, o.match_upstream) for o in refresh_offers(PROJECT.stages["qa"], everything, NOW)] == [("new", "dev", False)]
    (follow,) = refresh_offers(PROJECT.stages["qa2"], everything, NOW)
    assert (follow.freight, follow.upstream, follow.match_upstream) == ("old", "dev", True)
    assert follow.verified_at == datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)  # a second refresh asks for the same promotion
    assert [o.freight for o in refresh_offers(PROJECT.stages["dev"], everything, NOW)] == ["newest"]  # direct
    new["status"]["currentlyIn"]["qa"] = {"since": "2026-12-01T09:00:00+00:00"}
    assert refresh_offers(PROJECT.stages["qa"], everything, NOW) == []  # it has it already


def test_project_config_document_says_which_policy_decides() -> None:
    doc = project_config_document("p", PROJECT)
    jsonschema.validate(doc, json.loads((SCHEMAS / "projectconfig.json").read_text()))
    assert doc["metadata"] == {"name": "p", "namespace": "p"}
    assert doc["spec"]["promotionPolicies"][0]["stageSelector"]["matchExpressions"][0]["operator"] == "NotIn"
    assert doc["status"]["stages"] == [
        {"name": "dev", "autoPromotionEnabled": False},
        {"name": "prod", "policy": 1, "autoPromotionEnabled": False},
        {"name": "qa", "policy": 0, "autoPromotionEnabled": True},
        {"name": "qa2", "policy": 0, "autoPromotionEnabled": True},
    ]
    policies = PROJECT.project_config.spec.promotion_policies
    assert policy_text(policies[0]) == "name=glob:qa*, tier notin (prod)"
    assert policy_text(policies[1]) == "stage=prod"
