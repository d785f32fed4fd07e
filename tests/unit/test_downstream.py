"""Which Stages are told of available Freight (pipeline.auto_promotion.stages_to_tell): the
rule behind `notify_downstream`, asked of the project by the `downstream` query."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from pipeline.auto_promotion import (
    is_candidate,
    life_start,
    match_upstream_skip,
    match_upstream_source,
    newer_current_skip,
    renamed_for_new_life,
    stages_to_tell,
)
from pipeline.manifests import ManifestSet, load_sourced, parse_documents
from pipeline.manifests.models import FreightSources, RepoSubscription

HEAD = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: p, namespace: p}
spec:
  promotionPolicies:
    - stageSelector: {name: manual}
      autoPromotionEnabled: false
    - stageSelector: {name: "glob:*"}
      autoPromotionEnabled: true
"""


def stage(name: str, origin: str, *, direct: bool = False, upstream: tuple[str, ...] = (), soak: str = "") -> str:
    sources = {"direct": direct} if direct else {"stages": list(upstream)}
    if soak:
        sources["requiredSoakTime"] = soak
    return f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {name}, namespace: p}}
spec:
  requestedFreight:
    - origin: {{kind: Warehouse, name: {origin}}}
      sources: {sources}
"""


def project(*stages: str, policies: bool = True):
    text = (HEAD if policies else "") + "".join(stages)
    items = [load_sourced(d) for d in parse_documents(text, "p.yaml")]
    return ManifestSet().merge(items).projects["p"]


PIPELINE = project(
    stage("dev", "app", direct=True),
    stage("other", "lib", direct=True),
    stage("uat", "app", upstream=("dev",), soak="1h"),
    stage("qa", "app", upstream=("dev", "other")),
    stage("prod", "app", upstream=("uat",), soak="2h30m"),
    stage("ed", "app", direct=True),
)


@pytest.mark.parametrize(
    ("origin", "upstream", "told"),
    [
        ("app", "", [("dev", 0), ("ed", 0)]),  # new Freight: the direct Stages of its origin, by name
        ("lib", "", [("other", 0)]),
        ("app", "dev", [("qa", 0), ("uat", 3600)]),  # each with its soak
        ("app", "uat", [("prod", 9000)]),
        ("app", "prod", []),  # the end of the line
        ("lib", "dev", []),  # another origin's Freight is not asked for downstream
        ("nope", "", []),
    ],
)
def test_the_stages_told_and_their_soak(origin: str, upstream: str, told: list[tuple[str, int]]) -> None:
    got = stages_to_tell(PIPELINE, origin, upstream)
    assert [(d.stage, d.soak) for d in got] == [(name, timedelta(seconds=s)) for name, s in told]


def test_stages_without_auto_promotion_are_not_told() -> None:
    manual = project(stage("dev", "app", direct=True), stage("manual", "app", direct=True))
    assert [d.stage for d in stages_to_tell(manual, "app", "")] == ["dev"]
    off = project(stage("dev", "app", direct=True), policies=False)  # no ProjectConfig: off everywhere
    assert stages_to_tell(off, "app", "") == []


def test_match_upstream_is_told_and_follows_only_what_the_upstream_has() -> None:
    uat = stage("uat", "app", upstream=("dev",)).replace(
        "sources: {'stages': ['dev']}", "sources: {'stages': ['dev'], 'autoPromotionOptions': {'selectionPolicy': 'MatchUpstream'}}"
    )
    assert "MatchUpstream" in uat
    pm = project(stage("dev", "app", direct=True), uat)
    assert [(d.stage, d.match_upstream) for d in stages_to_tell(pm, "app", "dev")] == [("uat", True)]
    assert [d.match_upstream for d in stages_to_tell(pm, "app", "")] == [False]

    def record(*stages: str) -> dict:
        return {"status": {"currentlyIn": {s: {"since": "2026-12-01T00:00:00Z"} for s in stages}}}

    assert match_upstream_skip(record("dev"), "uat", "dev") == ""
    assert "no longer in dev" in match_upstream_skip(record(), "uat", "dev")
    assert "already has" in match_upstream_skip(record("dev", "uat"), "uat", "dev")
    assert "no longer in dev" in match_upstream_skip(None, "uat", "dev")


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({"direct": True}, "cannot be used when accepting Freight directly"),
        ({"stages": ["a", "b"]}, "exactly one upstream Stage"),
        ({"stages": []}, "exactly one upstream Stage"),
    ],
)
def test_match_upstream_needs_exactly_one_upstream(sources: dict, message: str) -> None:
    bad = {**sources, "autoPromotionOptions": {"selectionPolicy": "MatchUpstream"}}
    with pytest.raises(ValidationError, match=message):
        FreightSources.model_validate(bad)


def test_generic_subscriptions_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        RepoSubscription.model_validate({"name": "s3", "subscription": {"subscriptionType": "s3", "config": {}}})
    (error,) = err.value.errors()
    assert error["loc"] == ("subscription",) and "generic subscriptions (subscriptionType 's3') are not supported" in error["msg"]


def test_the_candidate_a_user_promotion_is_compared_with_for_holds() -> None:
    uat = stage("uat", "app", upstream=("dev",)).replace(
        "sources: {'stages': ['dev']}", "sources: {'stages': ['dev'], 'autoPromotionOptions': {'selectionPolicy': 'MatchUpstream'}}"
    )
    pm = project(stage("dev", "app", direct=True), uat, stage("qa", "app", upstream=("dev",)))
    in_dev = {"origin": {"name": "app"}, "status": {"currentlyIn": {"dev": {}}}}
    elsewhere = {"origin": {"name": "app"}, "status": {}}
    assert match_upstream_source(pm.stages["uat"], "app") == "dev" and match_upstream_source(pm.stages["qa"], "app") is None
    assert is_candidate(pm.stages["uat"], in_dev, newer_exists=True)  # MatchUpstream: what dev has, newer or not
    assert not is_candidate(pm.stages["uat"], elsewhere, newer_exists=False)
    assert is_candidate(pm.stages["qa"], elsewhere, newer_exists=False) and not is_candidate(pm.stages["qa"], in_dev, newer_exists=True)


def test_newest_freight_is_not_promoted_over_newer_freight_the_stage_has() -> None:
    def record(name: str, discovered: str, origin: str = "app") -> dict:
        return {"name": name, "origin": {"name": origin}, "discoveredAt": discovered}

    old, new = record("old", "2026-12-01T08:00:00+00:00"), record("new", "2026-12-01T09:00:00+00:00")
    assert "has newer Freight of app (new)" in newer_current_skip(old, new, "uat")  # an upstream went back to old
    assert newer_current_skip(new, old, "uat") == ""
    assert newer_current_skip(old, None, "uat") == "" and newer_current_skip(old, old, "uat") == ""
    assert newer_current_skip(old, record("lib", "2026-12-01T10:00:00+00:00", origin="lib"), "uat") == ""


def test_an_auto_promotion_name_of_a_former_stage_or_freight_is_not_this_lifes() -> None:
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    stage_started = t0 + timedelta(hours=1)
    freight = {"name": "a" * 40, "discoveredAt": (t0 + timedelta(hours=2)).isoformat()}
    now = t0 + timedelta(hours=3)
    assert life_start(stage_started, freight, now) == t0 + timedelta(hours=2)
    assert life_start(stage_started, {"discoveredAt": (now + timedelta(days=1)).isoformat()}, now) == stage_started
    assert life_start(stage_started, None, now) == stage_started
    begun = life_start(stage_started, freight, now)
    # a promotion of this life (a retried activity, a repeated refresh): the name stays taken
    assert renamed_for_new_life("dev.auto.aaaaaaaaaaaa", begun + timedelta(seconds=1), begun) == ""
    assert renamed_for_new_life("dev.auto.aaaaaaaaaaaa", None, begun) == ""
    # one of a deleted Stage (or project) of the same name: this life gets its own, stable name
    renamed = renamed_for_new_life("dev.auto.aaaaaaaaaaaa", t0, begun)
    assert renamed == f"dev.auto.aaaaaaaaaaaa.life{int(begun.timestamp())}"
    assert renamed_for_new_life("dev.auto.aaaaaaaaaaaa", t0, begun) == renamed
