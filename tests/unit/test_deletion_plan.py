"""pipeline/deletion.py: what a deletion removes, what blocks it, and what `apply --prune` deletes."""

from __future__ import annotations

import pytest

from pipeline.deletion import ObjectRef, plan_deletion, prune_targets, resolve_kind, targets_of, without
from pipeline.manifests import ManifestError, ManifestSet, load_sourced, parse_documents
from tests.pipelines import pipeline_manifests

EXTRA = """\
---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: push, namespace: p}
spec:
  steps:
  - uses: git-push
    config: {path: ./src, targetBranch: main}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: p}
spec:
  metrics:
  - name: up
    provider:
      web: {url: "http://127.0.0.1:1/"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: prod, namespace: p}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {stages: [staging]}
  promotionTemplate:
    spec:
      steps:
      - task: {name: push}
  verification:
    analysisTemplates:
    - name: smoke
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: p, namespace: p}
spec: {}
"""


def applied() -> ManifestSet:
    docs = parse_documents(pipeline_manifests("p", "file:///nowhere.git") + EXTRA, "p.yaml")
    return ManifestSet().merge([load_sourced(d) for d in docs])


def ref(kind: str, name: str) -> ObjectRef:
    return ObjectRef(kind=kind, name=name)


def test_a_referenced_object_is_refused_naming_who_references_it() -> None:
    plan = plan_deletion(applied(), "p", [ref("Warehouse", "app")])
    assert plan.blockers == [
        "Stage 'dev' requests Freight from Warehouse 'app'",
        "Stage 'prod' requests Freight from Warehouse 'app'",
        "Stage 'staging' requests Freight from Warehouse 'app'",
    ]
    assert plan_deletion(applied(), "p", [ref("Stage", "staging")]).blockers == [
        "Stage 'prod' takes Freight from upstream Stage 'staging'"
    ]
    assert plan_deletion(applied(), "p", [ref("PromotionTask", "push")]).blockers == ["Stage 'prod' runs PromotionTask 'push'"]
    assert plan_deletion(applied(), "p", [ref("AnalysisTemplate", "smoke")]).blockers == [
        "Stage 'prod' verifies with AnalysisTemplate 'smoke'"
    ]


def test_deleting_the_referrers_in_the_same_command_unblocks_it() -> None:
    targets = [ref("Stage", "prod"), ref("PromotionTask", "push"), ref("AnalysisTemplate", "smoke"), ref("Stage", "staging")]
    plan = plan_deletion(applied(), "p", targets)
    assert plan.blockers == [] and plan.missing == []
    assert plan.names("Stage") == ["prod", "staging"]
    left = without(applied(), "p", plan).projects["p"]
    assert sorted(left.stages) == ["dev"] and not left.promotion_tasks and not left.analysis_templates
    assert not any("Stage/prod" in k for k in without(applied(), "p", plan).sources)


def test_a_leaf_stage_goes_alone() -> None:
    plan = plan_deletion(applied(), "p", [ref("Stage", "prod")])
    assert plan.problems() == [] and plan.names("Stage") == ["prod"]


def test_deleting_the_project_removes_everything_in_it() -> None:
    plan = plan_deletion(applied(), "p", [ref("Project", "p")])
    assert plan.project and plan.blockers == []
    assert {r.label for r in plan.deleted} == {
        "project/p", "projectconfig/p", "warehouse/app", "stage/dev", "stage/staging", "stage/prod",
        "promotiontask/push", "analysistemplate/smoke",
    }  # fmt: skip
    gone = without(applied(), "p", plan)
    assert "p" not in gone.projects and not [k for k in gone.sources if k.startswith("p/")]


def test_missing_objects_are_named_with_a_did_you_mean() -> None:
    plan = plan_deletion(applied(), "p", [ref("Stage", "stagign")])
    assert plan.missing == ["stage 'stagign' does not exist in project p; did you mean 'staging'? (stages: dev, prod, staging)"]
    assert plan_deletion(applied(), "p", [ref("Stage", "nope")], ignore_missing=True).problems() == []
    assert plan_deletion(applied(), "p", [ref("Project", "other")]).missing == ["Project 'other' is not in project p"]


def test_cluster_scope() -> None:
    plan = plan_deletion(applied(), "cluster", [ref("ClusterPromotionTask", "x"), ref("Stage", "dev")])
    assert plan.missing == ["clusterpromotiontask 'x' does not exist in the cluster scope", "Stage is not cluster-scoped: name a project (-p)"]


def test_prune_deletes_what_the_files_do_not_name() -> None:
    kept = [ref("Project", "p"), ref("Warehouse", "app"), ref("Stage", "dev"), ref("Stage", "staging")]
    pruned = prune_targets(applied().projects["p"], "p", kept)
    assert [r.label for r in pruned] == ["projectconfig/p", "stage/prod", "promotiontask/push", "analysistemplate/smoke"]
    assert plan_deletion(applied(), "p", pruned).blockers == []
    # a Stage the files keep that uses what they drop blocks the prune
    blocked = plan_deletion(applied(), "p", prune_targets(applied().projects["p"], "p", kept + [ref("Stage", "prod")]))
    assert "Stage 'prod' runs PromotionTask 'push'" in blocked.blockers
    assert prune_targets(None, "p", kept) == []


@pytest.mark.parametrize("text,kind", [("stage", "Stage"), ("Stages", "Stage"), ("projectconfig", "ProjectConfig"),
                                       ("ClusterPromotionTask", "ClusterPromotionTask"), ("analysistemplates", "AnalysisTemplate")])  # fmt: skip
def test_kinds_as_users_write_them(text: str, kind: str) -> None:
    assert resolve_kind(text) == kind


def test_an_unknown_kind_says_what_it_may_have_meant() -> None:
    with pytest.raises(ValueError, match="unknown kind 'stgae'; did you mean 'stage'"):
        resolve_kind("stgae")


def test_targets_of_files() -> None:
    docs = parse_documents(pipeline_manifests("p", "file:///nowhere.git") + EXTRA, "p.yaml")
    by_scope = targets_of(docs, None)
    assert list(by_scope) == ["p"]
    assert [r.label for r in by_scope["p"]][:3] == ["project/p", "warehouse/app", "stage/dev"]
    bad = parse_documents("kind: Stage\nmetadata: {name: x}\n---\nkind: Freight\nmetadata: {name: f, namespace: p}\n", "bad.yaml")
    with pytest.raises(ManifestError) as err:
        targets_of(bad, None)
    text = str(err.value)
    assert "bad.yaml:1" in text and "metadata.namespace" in text and "Freight is not deleted" in text
    assert targets_of(bad[:1], "q") == {"q": [ref("Stage", "x")]}


def test_freight_forgets_a_deleted_stage() -> None:
    from datetime import datetime, timezone

    from pipeline.freight import FreightChange, apply_change, names_stage

    record = {"name": "f", "status": {"currentlyIn": {"qa": {}}, "verifiedIn": {"qa": {}, "dev": {}}, "approvedFor": {"qa": {}}}}
    assert names_stage(record, "qa")
    apply_change(record, FreightChange(kind="stage_deleted", stage="qa"), datetime.now(timezone.utc))
    assert record["status"] == {"currentlyIn": {}, "verifiedIn": {"dev": {}}, "approvedFor": {}}
    assert not names_stage(record, "qa")
