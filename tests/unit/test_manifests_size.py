"""A project's manifests have a size limit (pipeline.manifests.check_size): the ProjectWorkflow
carries them in one payload, and a payload over Temporal's 2 MB would stop the project."""

from __future__ import annotations

import pytest

from pipeline.manifests import MANIFESTS_LIMIT, ManifestError, ManifestSet, check_size, load_sourced, parse_documents, validate_set


def stages(project: str, count: int, pad: int = 0) -> ManifestSet:
    text = f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {{name: {project}}}\n"
    text += f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  subscriptions: [{{image: {{repoURL: registry.test/app}}}}]
"""
    for i in range(count):
        text += f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: s{i:04d}, namespace: {project}, annotations: {{note: "{'x' * pad}"}}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
"""
    return ManifestSet().merge([load_sourced(d) for d in parse_documents(text, "big.yaml")])


def test_a_project_under_the_limit_passes() -> None:
    validate_set(stages("small", 5))
    check_size(stages("small", 5), "small", limit=5_000)
    check_size(stages("small", 5), "other-project", limit=1)  # not in the set: nothing to say


def test_a_project_over_the_limit_is_refused_with_its_size_and_what_it_holds() -> None:
    with pytest.raises(ManifestError) as err:
        check_size(stages("big", 5), "big", limit=1_000)
    text = str(err.value)
    assert "project big's manifests would take" in text and "the limit is 1 KB" in text
    assert "5 Stages, 1 Warehouses" in text and "split it into projects" in text


def test_validate_set_applies_the_limit() -> None:
    big = stages("huge", 10, pad=MANIFESTS_LIMIT // 10)
    with pytest.raises(ManifestError, match="project huge's manifests would take 10\\d\\d KB stored"):
        validate_set(big)
