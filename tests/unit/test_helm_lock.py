"""Chart.lock as Helm writes it: the digest (Helm's HashReq) and the file's text, checked
against lock files that Helm generated, in helm/helm's testdata and in a public chart."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from ruamel.yaml import YAML

from activities.steps._helm_lock import (
    Dependency,
    dependency_from_yaml,
    format_lock,
    go_json_dumps,
    hash_req,
    rfc3339nano,
    yaml_string,
)

# helm/helm, pkg/chart/v2/util/testdata/import-values-from-enabled-subchart/parent-chart/
# Chart.yaml and Chart.lock (commit 61d3eca55c1c7142c3e344537bf3a7a5be4ca0db, unchanged
# at e9b85e4de16ad45805843fb121748018cf89094b). Its dependencies use condition, tags,
# import-values and a ">=" range (which Go's JSON encoder writes as "\u003e=").
HELM_PARENT_CHART_YAML = """\
apiVersion: v2
name: parent-chart
version: v0.1.0
appVersion: v0.1.0
dependencies:
  - name: dev
    repository: "file://envs/dev"
    version: ">= 0.0.1"
    condition: dev.enabled,global.dev.enabled
    tags:
      - dev
    import-values:
      - data

  - name: prod
    repository: "file://envs/prod"
    version: ">= 0.0.1"
    condition: prod.enabled,global.prod.enabled
    tags:
      - prod
    import-values:
      - data"""
HELM_PARENT_CHART_LOCK = """\
dependencies:
- name: dev
  repository: file://envs/dev
  version: v0.1.0
- name: prod
  repository: file://envs/prod
  version: v0.1.0
digest: sha256:9403fc24f6cf9d6055820126cf7633b4bd1fed3c77e4880c674059f536346182
generated: "2020-02-03T10:38:51.180474+01:00"
"""

# 8gears/n8n-helm-chart, Chart.yaml (commit 1775cf36506cf6cc2c9a6612f1da8ac7a559e43a,
# dependencies part) and Chart.lock (commit 2871ce2ae2c4c4cd3067b59914e5fb884bcee3a6),
# written by `helm dependency update` against the Bitnami repository.
N8N_CHART_YAML = """\
apiVersion: v2
name: n8n
version: 0.8.0
appVersion: 0.210.0
type: application
dependencies:
  - name: redis
    version: 17.2.0
    repository: https://charts.bitnami.com/bitnami
    condition: redis.enabled
"""
N8N_CHART_LOCK = """\
dependencies:
- name: redis
  repository: https://charts.bitnami.com/bitnami
  version: 17.2.0
digest: sha256:989a8e3f05d54b04db15e782bd24ca5a5872a36f5dc02b7882b25491a5a5ddde
generated: "2022-09-30T08:49:11.0457529+02:00"
"""


def chart_dependencies(text: str) -> list[Dependency]:
    """Read as the step does: ruamel's round-trip loader, then Helm's field rules."""
    doc = YAML().load(text)
    return [dependency_from_yaml(d, f"dependencies[{i}]") for i, d in enumerate(doc["dependencies"])]


def lock_dependencies(text: str) -> tuple[list[Dependency], str, str]:
    doc = YAML(typ="safe", pure=True).load(text)
    deps = [Dependency(name=d["name"], repository=d["repository"], version=str(d["version"])) for d in doc["dependencies"]]
    return deps, doc["digest"], str(doc["generated"]) if isinstance(doc["generated"], str) else ""


@pytest.mark.parametrize(
    ("chart", "lock"),
    [(HELM_PARENT_CHART_YAML, HELM_PARENT_CHART_LOCK), (N8N_CHART_YAML, N8N_CHART_LOCK)],
    ids=["helm-testdata-parent-chart", "n8n-helm-chart"],
)
def test_digest_and_text_match_helm(chart: str, lock: str) -> None:
    req = chart_dependencies(chart)
    locked, digest, generated = lock_dependencies(lock)
    assert hash_req(req, locked) == digest
    assert format_lock(locked, digest, generated) == lock


def test_go_json_field_order_and_omitempty() -> None:
    d = Dependency(
        name="a", version=">=1 <2 && x", repository="", condition="c", tags=["t"], enabled=True,
        import_values=[{"parent": "p", "child": "c"}, "data"], alias="b",
    )
    assert go_json_dumps(d.go_json()) == (
        '{"name":"a","version":"\\u003e=1 \\u003c2 \\u0026\\u0026 x","repository":"","condition":"c",'
        '"tags":["t"],"enabled":true,"import-values":[{"parent":"p","child":"c"},"data"],"alias":"b"}'
    )
    # name and repository are never left out; the rest is when empty
    assert go_json_dumps(Dependency(name="a").go_json()) == '{"name":"a","repository":""}'
    expected = hashlib.sha256(b'[[{"name":"a","repository":""}],[]]').hexdigest()
    assert hash_req([Dependency(name="a")], []) == "sha256:" + expected


def test_chart_yaml_values_as_helm_reads_them() -> None:
    """Maps inside import-values get Go's sorted keys; numbers and booleans become text
    where Helm wants a string; `enabled` counts only when true."""
    (d,) = chart_dependencies(
        "dependencies:\n- name: x\n  version: 1.5\n  repository: https://r\n  enabled: false\n"
        "  import-values:\n  - {parent: p, child: c}\n  tags: [a, 7]\n"
    )
    assert d.version == "1.5" and d.tags == ["a", "7"] and not d.enabled
    assert go_json_dumps(d.go_json()) == (
        '{"name":"x","version":"1.5","repository":"https://r","tags":["a","7"],'
        '"import-values":[{"child":"c","parent":"p"}]}'
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("17.2.0", "17.2.0"),
        ("v1.0.0", "v1.0.0"),
        ("1.0", '"1.0"'),
        ("17", '"17"'),
        ("", '""'),
        ("true", '"true"'),
        ("no", '"no"'),
        ("2024-01-01", '"2024-01-01"'),
        ("oci://ghcr.io/org/charts", "oci://ghcr.io/org/charts"),
        ("@stable", "'@stable'"),
        ("a: b", "'a: b'"),
    ],
)
def test_lock_string_quoting(value: str, written: str) -> None:
    assert yaml_string(value) == written


def test_generated_timestamp_is_rfc3339nano() -> None:
    ns = 1_700_000_000_123_450_000
    text = rfc3339nano(ns)
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    assert text.startswith(local.strftime("%Y-%m-%dT%H:%M:%S") + ".12345")  # trailing zeros dropped
    offset = local.utcoffset() or timedelta(0)
    assert text.endswith("Z") if not offset else text[-6] in "+-"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(".12345", ".123450"))
    assert parsed == datetime.fromtimestamp(ns / 1e9, tz=UTC).replace(microsecond=123450)
    assert "." not in rfc3339nano(1_700_000_000_000_000_000)  # whole seconds: no fraction
