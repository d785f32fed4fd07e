"""The seed examples load; as a set they miss exactly what they reference and do not define."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.manifests import load_paths, validate_paths
from pipeline.manifests import ManifestError, ManifestSet, load_sourced, parse_documents, validate_set

HERE = Path(__file__).parent
SEED = HERE.parent / "fixtures" / "seed"
SHARED_SEED = HERE.parent.parent.parent / "shared" / "seed" / "examples"

MISSING = """
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: my-warehouse, namespace: my-project}
spec:
  subscriptions:
  - image: {repoURL: my-registry/my-app}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: test, namespace: my-project}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: my-warehouse}
    sources: {direct: true}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: org-wide-security-scan}
spec:
  metrics:
  - name: scan
    provider:
      job:
        spec: {template: {spec: {containers: [{name: s, image: scanner}], restartPolicy: Never}}}
"""


def seed(*prefixes: str) -> list[str]:
    return [str(p) for p in sorted(SEED.glob("*.yaml")) if p.name[:2] in prefixes]


@pytest.mark.parametrize("path", sorted(SEED.glob("*.yaml")), ids=lambda p: p.name)
def test_each_seed_file_loads(path: Path) -> None:
    loaded = load_paths([str(path)])
    assert loaded.manifests and not loaded.freight
    assert all(m.project in (None, "my-project") for m in loaded.manifests)


def test_fixture_copy_matches_shared_seed() -> None:
    if not SHARED_SEED.is_dir():
        pytest.skip("shared/ is not beside this clone")
    for p in SHARED_SEED.glob("*.yaml"):
        assert (SEED / p.name).read_text() == p.read_text(), p.name
        load_paths([str(p)])


def _errors(paths: list[str], extra: str = "") -> list[str]:
    items = load_paths(paths).manifests
    if extra:
        items += [load_sourced(d) for d in parse_documents(extra, "missing.yaml")]
    try:
        validate_set(ManifestSet().merge(items))
    except ManifestError as err:
        return [str(i) for i in err.issues]
    return []


def _short(lines: list[str]) -> list[str]:
    return [line.replace(str(SEED) + "/", "") for line in lines]


def test_seed_02_set_names_what_is_missing() -> None:
    assert _short(_errors(seed("01", "02", "03"))) == [
        '02-stages.yaml:11: Stage/uat: spec.requestedFreight[0].sources.stages[0]: Stage "test" does not exist in project my-project',
        '02-stages.yaml:14: Stage/uat: spec.requestedFreight[0].origin.name: Warehouse "my-warehouse" does not exist in project my-project',
        '02-stages.yaml:55: Stage/production: spec.requestedFreight[0].origin.name: Warehouse "my-warehouse" does not exist in project my-project',
        '03-verification-args.yaml:11: Stage/smoke: spec.requestedFreight[0].origin.name: Warehouse "my-warehouse" does not exist in project my-project',
        '03-verification-args.yaml:17: Stage/smoke: spec.verification.analysisTemplates[1].name: ClusterAnalysisTemplate "org-wide-security-scan" does not exist',
    ]


def test_seed_04_set_names_what_is_missing() -> None:
    assert _short(_errors(seed("01", "04"))) == [
        '04-promotion-tasks.yaml:58: Stage/uat: spec.requestedFreight[0].sources.stages[0]: Stage "test" does not exist in project my-project',
        '04-promotion-tasks.yaml:61: Stage/uat: spec.requestedFreight[0].origin.name: Warehouse "my-warehouse" does not exist in project my-project',
        '04-promotion-tasks.yaml:106: Stage/uat-cluster-task: spec.requestedFreight[0].sources.stages[0]: Stage "test" does not exist in project my-project',
        '04-promotion-tasks.yaml:109: Stage/uat-cluster-task: spec.requestedFreight[0].origin.name: Warehouse "my-warehouse" does not exist in project my-project',
    ]


def test_adding_the_missing_ones_makes_the_sets_valid() -> None:
    assert _errors(seed("01", "02", "03"), MISSING) == []
    assert _errors(seed("01", "03", "04"), MISSING) == []


def test_all_seed_files_in_one_apply_report_the_duplicate_stage() -> None:
    with pytest.raises(ManifestError) as exc:
        validate_paths([str(SEED)])
    assert len(exc.value.issues) == 1
    msg = str(exc.value)
    assert 'Stage "uat" in project my-project is defined twice in one apply' in msg
    assert "02-stages.yaml:2" in msg and "04-promotion-tasks.yaml:49" in msg


def test_apply_replaces_and_never_deletes() -> None:
    first = validate_paths(seed("01", "02", "03"), existing=_valid_base())
    second = validate_paths(seed("04"), existing=first)
    assert second.stage("my-project", "production") is not None  # kept
    assert second.stage("my-project", "uat").steps[0].task.name == "kustomize-promote"  # replaced
    assert second.source("Stage", "uat", "my-project").file.endswith("04-promotion-tasks.yaml")
    assert first.stage("my-project", "uat").steps[0].uses == "git-clone"  # the old set is untouched
    _, changes = first.merge_with_changes(load_paths(seed("04")).manifests)
    assert "stage/uat configured" in changes and "promotiontask/pr-flow created" in changes


def _valid_base() -> ManifestSet:
    return ManifestSet().merge([load_sourced(d) for d in parse_documents(MISSING, "missing.yaml")])
