"""Every kind round-trips Kargo YAML unchanged; durations parse the Go way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pipeline.durations import format_duration, parse_duration
from pipeline.manifests import (
    MODELS,
    Freight,
    ManifestSet,
    PromotionStep,
    Stage,
    Warehouse,
    load_sourced,
    parse_documents,
)

SEED = Path(__file__).parent.parent / "fixtures" / "seed"

EXTRA_KINDS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: my-project
data:
  repoURL: https://git.example.com/app.git
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: my-project
  labels: {team: payments}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: my-project
  namespace: my-project
spec:
  promotionPolicies:
  - stageSelector:
      name: "glob:dev-*"
    autoPromotionEnabled: true
  - stage: test
    autoPromotionEnabled: true
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: my-warehouse
  namespace: my-project
spec:
  interval: 10m
  freightCreationPolicy: Automatic
  freightCreationCriteria:
    expression: imageFrom("my-registry/my-app").Tag != "latest"
  subscriptions:
  - image:
      repoURL: my-registry/my-app
      imageSelectionStrategy: SemVer
      constraint: ^1.0.0
      discoveryLimit: 10
      insecureSkipTLSVerify: true
  - git:
      repoURL: https://github.com/example/repo.git
      branch: main
      includePaths: [apps/]
  - chart:
      repoURL: oci://registry/charts/my-chart
      semverConstraint: ^2.0.0
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata:
  name: 47b33c0c92b54439e5eb7fb80ecc83f8626fe390
  namespace: my-project
alias: fluffy-zebra
discoveredAt: "2024-05-01T12:00:00Z"
origin:
  kind: Warehouse
  name: my-warehouse
images:
- repoURL: my-registry/my-app
  tag: 1.2.3
  digest: sha256:abc
commits:
- repoURL: https://github.com/example/repo.git
  id: 0123456789abcdef
  branch: main
charts:
- repoURL: oci://registry/charts/my-chart
  version: 2.1.0
status:
  currentlyIn:
    test: {since: "2024-05-01T12:05:00Z"}
  verifiedIn:
    test: {verifiedAt: "2024-05-01T12:20:00Z", longestSoak: 2h0m0s}
  approvedFor:
    prod: {approvedAt: "2024-05-01T13:00:00Z"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: test
  namespace: my-project
spec:
  vars:
  - name: env
    value: test
  requestedFreight:
  - origin: {kind: Warehouse, name: my-warehouse}
    sources:
      direct: true
      availabilityStrategy: OneOf
      autoPromotionOptions: {selectionPolicy: NewestFreight}
  promotionTemplate:
    spec:
      vars:
      - name: repo
        value: https://github.com/example/deploy.git
      steps:
      - uses: http
        as: ping
        if: ${{ success() }}
        continueOnError: true
        retry: {timeout: 5m, errorThreshold: 3}
        vars:
        - name: url
          value: https://example.com
        config:
          url: ${{ vars.url }}
          anything: [1, {deep: true}]
  verification:
    analysisTemplates:
    - name: smoke-test
      kind: AnalysisTemplate
    analysisRunMetadata:
      labels: {a: b}
    args:
    - name: image-tag
      value: "1.0"
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: org-wide-security-scan
spec:
  args:
  - name: token
    valueFrom:
      secretKeyRef: {name: scan, key: token}
  - name: threshold
    value: "3"
  metrics:
  - name: web-check
    interval: 1m
    initialDelay: 30s
    count: 3
    failureLimit: 1
    inconclusiveLimit: 1
    consecutiveErrorLimit: 4
    consecutiveSuccessLimit: 2
    successCondition: result.ok == true
    failureCondition: result.ok == false
    provider:
      web:
        url: https://scanner/{{ args.token }}
        headers: [{key: X, value: y}]
        jsonPath: "{$.result}"
        timeoutSeconds: 10
  - name: other
    count: "{{ args.threshold }}"
    provider:
      datadog: {query: "avg:x", interval: 5m}
  dryRun: [{metricName: other}]
  measurementRetention: [{metricName: web-check, limit: 5}]
"""


def _docs(text: str):
    return list(YAML(typ="safe").load_all(text))


@pytest.mark.parametrize("path", sorted(SEED.glob("*.yaml")), ids=lambda p: p.name)
def test_seed_documents_round_trip(path: Path) -> None:
    for data in _docs(path.read_text()):
        model = MODELS[data["kind"]].model_validate(data)
        assert model.to_yaml_dict() == data


def test_every_kind_round_trips() -> None:
    docs = _docs(EXTRA_KINDS)
    kinds = set()
    for data in docs:
        model = MODELS[data["kind"]].model_validate(data)
        assert model.to_yaml_dict() == data, data["kind"]
        kinds.add(data["kind"])
    seeded = {d["kind"] for p in SEED.glob("*.yaml") for d in _docs(p.read_text())}
    assert kinds | seeded == set(MODELS)


def test_python_names_and_defaults() -> None:
    docs = {d["kind"]: d for d in _docs(EXTRA_KINDS)}
    stage = Stage.model_validate(docs["Stage"])
    step = stage.steps[0]
    assert isinstance(step, PromotionStep)
    assert (step.uses, step.as_, step.if_, step.continue_on_error) == ("http", "ping", "${{ success() }}", True)
    assert step.retry.timeout == "5m" and step.retry.error_threshold == 3
    rf = stage.spec.requested_freight[0]
    assert rf.origin.kind == "Warehouse" and rf.sources.direct
    assert stage.spec.verification.analysis_templates[0].kind == "AnalysisTemplate"

    wh = Warehouse.model_validate({**docs["Warehouse"], "spec": {"subscriptions": [{"image": {"repoURL": "r"}}]}})
    assert wh.spec.interval == "5m0s" and parse_duration(wh.spec.interval) == timedelta(minutes=5)
    assert wh.spec.freight_creation_policy == "Automatic"
    assert wh.spec.subscriptions[0].image.image_selection_strategy == "SemVer"

    fr = Freight.model_validate(docs["Freight"])
    assert fr.status.verified_in["test"].longest_soak == "2h0m0s"
    assert fr.images[0].repo_url == "my-registry/my-app"
    # populate_by_name: python names work too
    assert PromotionStep(uses="git-push", as_="push").to_yaml_dict() == {"uses": "git-push", "as": "push"}


def test_manifest_set_is_json_serialisable() -> None:
    items = [load_sourced(d) for d in parse_documents(EXTRA_KINDS, "x.yaml")]
    ms = ManifestSet().merge([i for i in items if i.kind != "Freight"])
    again = ManifestSet.model_validate_json(ms.model_dump_json())
    assert again == ms.model_copy(update={"sources": again.sources})
    assert again.model_dump() == ms.model_dump()
    # by-alias JSON loads back too
    assert ManifestSet.model_validate_json(ms.model_dump_json(by_alias=True)).model_dump() == ms.model_dump()
    assert again.source("Stage", "test", "my-project").file == "x.yaml"
    assert again.stage("my-project", "test").metadata.name == "test"
    assert again.warehouse("my-project", "my-warehouse") is not None
    assert again.analysis_template("my-project", "org-wide-security-scan", "ClusterAnalysisTemplate") is not None
    assert again.projects["my-project"].project.metadata.name == "my-project"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("180s", timedelta(seconds=180)),
        ("30m", timedelta(minutes=30)),
        ("48h", timedelta(hours=48)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("5m0s", timedelta(minutes=5)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["2 hours", "5", "1d", "", "h", "1h 30m"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=2)) == "2h0m0s"
    assert format_duration(timedelta(minutes=5)) == "5m0s"
    assert format_duration(timedelta(0)) == "0s"
