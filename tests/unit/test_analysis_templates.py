"""build_run_spec: several (Cluster)AnalysisTemplates into one run, as Kargo's
pkg/rollouts (flattenTemplates, mergeArgs) and Argo Rollouts' ValidateMetric do."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pipeline.analysis import AnalysisSpecError, build_run_spec, render_deferred_args
from pipeline.manifests.models import AnalysisRunArgument, AnalysisTemplate, ClusterAnalysisTemplate


def tmpl(name: str, metrics: list[dict[str, Any]], *, cluster: bool = False, **spec: Any):
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"metrics": metrics, **spec},
    }
    return (ClusterAnalysisTemplate if cluster else AnalysisTemplate).model_validate(doc)


def web(name: str, url: str = "http://127.0.0.1:8080/health", **kw: Any) -> dict[str, Any]:
    return {"name": name, "provider": {"web": {"url": url}}, **kw}


def test_duplicate_metric_across_templates_names_both() -> None:
    a = tmpl("checks-a", [web("health")])
    b = tmpl("shared-checks", [web("health")], cluster=True)
    with pytest.raises(AnalysisSpecError) as err:
        build_run_spec([a, b])
    text = str(err.value)
    assert 'metric name "health"' in text
    assert 'AnalysisTemplate "checks-a"' in text and 'ClusterAnalysisTemplate "shared-checks"' in text


def test_duplicate_metric_within_one_template() -> None:
    with pytest.raises(AnalysisSpecError, match='"health" is used by AnalysisTemplate "a" \\(twice\\)'):
        build_run_spec([tmpl("a", [web("health"), web("health")])])


def test_missing_required_arg_names_template_and_arg() -> None:
    t = tmpl("smoke-test", [web("smoke", url="http://x/{{ args.image-tag }}")], args=[{"name": "image-tag"}])
    with pytest.raises(AnalysisSpecError) as err:
        build_run_spec([t])
    assert 'arg "image-tag"' in str(err.value) and 'AnalysisTemplate "smoke-test"' in str(err.value)


def test_declared_but_unused_arg_without_value_is_still_an_error() -> None:
    # Kargo mergeArgs / validateArgsResolution: every declared arg must resolve.
    t = tmpl("t", [web("m")], args=[{"name": "unused"}])
    with pytest.raises(AnalysisSpecError, match='arg "unused"'):
        build_run_spec([t])


def test_arg_used_but_not_declared() -> None:
    t = tmpl("t", [web("m", url="http://x/{{ args.nope }}")])
    with pytest.raises(AnalysisSpecError) as err:
        build_run_spec([t])
    text = str(err.value)
    assert 'AnalysisTemplate "t"' in text and 'metric "m"' in text and "args.nope" in text


def test_stage_args_override_defaults_everywhere() -> None:
    t = tmpl(
        "t",
        [
            {
                "name": "rate",
                "interval": "{{ args.every }}",
                "count": "{{ args.n }}",
                "successCondition": "result[0] < {{ args.max }}",
                "failureLimit": "{{ args.fl }}",
                "provider": {
                    "prometheus": {
                        "address": "{{ args.prom }}",
                        "query": 'rate(x{app="{{ args.app }}"}[5m])',
                        "headers": [{"key": "X-App", "value": "{{args.app}}"}],
                    }
                },
            }
        ],
        args=[
            {"name": "app", "value": "default-app"},
            {"name": "max", "value": "0.05"},
            {"name": "every", "value": "30s"},
            {"name": "n", "value": 5},
            {"name": "fl", "value": "1"},
            {"name": "prom"},
        ],
    )
    spec = build_run_spec(
        [t], [AnalysisRunArgument(name="prom", value="http://127.0.0.1:9090"), AnalysisRunArgument(name="max", value="0.1")]
    )
    (m,) = spec.metrics
    assert m.interval == "30s" and m.count == 5 and m.failure_limit == 1
    assert m.success_condition == "result[0] < 0.1"
    assert m.provider["prometheus"]["address"] == "http://127.0.0.1:9090"
    assert m.provider["prometheus"]["query"] == 'rate(x{app="default-app"}[5m])'
    assert m.provider["prometheus"]["headers"] == [{"key": "X-App", "value": "default-app"}]
    assert spec.args["max"] == "0.1" and m.template == 'AnalysisTemplate "t"'


def test_empty_stage_arg_does_not_override_and_undeclared_stage_arg_is_ignored() -> None:
    t = tmpl("t", [web("m", url="http://x/{{ args.a }}")], args=[{"name": "a", "value": "dflt"}])
    spec = build_run_spec([t], {"a": "", "other": "x"})
    assert spec.metrics[0].provider["web"]["url"] == "http://x/dflt"
    assert "other" not in spec.args


def test_conflicting_defaults_across_templates() -> None:
    a = tmpl("a", [web("m1")], args=[{"name": "env", "value": "uat"}])
    b = tmpl("b", [web("m2")], args=[{"name": "env", "value": "prod"}])
    with pytest.raises(AnalysisSpecError) as err:
        build_run_spec([a, b])
    assert 'arg "env"' in str(err.value) and '"a"' in str(err.value) and '"b"' in str(err.value)


def test_default_in_one_template_fills_the_other() -> None:
    a = tmpl("a", [web("m1", url="http://x/{{ args.env }}")], args=[{"name": "env"}])
    b = tmpl("b", [web("m2", url="http://y/{{ args.env }}")], args=[{"name": "env", "value": "uat"}])
    spec = build_run_spec([a, b])
    assert [m.provider["web"]["url"] for m in spec.metrics] == ["http://x/uat", "http://y/uat"]


def test_namespaced_templates_come_before_cluster_templates() -> None:
    c = tmpl("shared", [web("c")], cluster=True)
    a = tmpl("local", [web("a")])
    spec = build_run_spec([c, a])
    assert [m.name for m in spec.metrics] == ["a", "c"]
    assert spec.templates == ["AnalysisTemplate/local", "ClusterAnalysisTemplate/shared"]


def test_dry_run_and_retention_merged_by_pattern() -> None:
    a = tmpl("a", [web("error-rate"), web("latency")], dryRun=[{"metricName": "lat.*"}])
    b = tmpl("b", [web("smoke")], cluster=True, measurementRetention=[{"metricName": "smoke", "limit": 20}])
    spec = build_run_spec([a, b])
    assert spec.dry_run == ["latency"]
    assert spec.measurement_retention == {"smoke": 20}
    everything = build_run_spec([tmpl("x", [web("p"), web("q")], dryRun=[{"metricName": "*"}])])
    assert everything.dry_run == ["p", "q"]


def test_dry_run_rule_matching_nothing_is_an_error() -> None:
    with pytest.raises(AnalysisSpecError, match="matches no metric"):
        build_run_spec([tmpl("a", [web("m")], dryRun=[{"metricName": "nothing"}])])


def test_secret_args_stay_out_of_the_spec() -> None:
    t = tmpl(
        "t",
        [{"name": "m", "provider": {"web": {"url": "http://x/", "headers": [{"key": "Authorization", "value": "Bearer {{ args.token }}"}]}}}],
        args=[{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
    )
    spec = build_run_spec([t])
    (m,) = spec.metrics
    assert m.provider["web"]["headers"][0]["value"] == "Bearer {{ args.token }}"
    assert spec.deferred_args == {"token": {"secretKeyRef": {"name": "creds", "key": "token"}}}
    assert "token" not in spec.args
    resolved = render_deferred_args(m, {"token": "s3cret"})
    assert resolved.provider["web"]["headers"][0]["value"] == "Bearer s3cret"


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"count": 3}, "interval"),
        ({"count": 2, "interval": "1m", "failureLimit": 3}, "failureLimit + consecutiveSuccessLimit"),
        ({"failureLimit": -1}, "cannot both be disabled"),
        ({"failureLimit": -2}, "failureLimit must be >= 0"),
        ({"consecutiveErrorLimit": -1}, "consecutiveErrorLimit"),
        ({"count": 2, "interval": "1m", "inconclusiveLimit": 3}, "inconclusiveLimit"),
        ({"count": "{{ args.n }}", "interval": "1m"}, "whole number"),
    ],
)
def test_invalid_metric_specs(fields: dict[str, Any], problem: str) -> None:
    # utils/analysis/factory.go ValidateMetric
    t = tmpl("t", [web("m", **fields)], args=[{"name": "n", "value": "five"}])
    with pytest.raises(AnalysisSpecError, match=re.escape(problem)):
        build_run_spec([t])


def test_seed_templates_build_with_stage_args() -> None:
    from pathlib import Path

    from pipeline.manifests.parse import load_document, parse_documents

    seed = Path(__file__).parents[1] / "fixtures" / "seed" / "01-analysis-templates.yaml"
    docs = [load_document(d) for d in parse_documents(seed.read_text(), str(seed))]
    with pytest.raises(AnalysisSpecError, match='arg "image-tag"'):
        build_run_spec(docs)
    spec = build_run_spec(docs, {"image-tag": "1.27", "commit-sha": "abc123"})
    assert [m.name for m in spec.metrics] == ["integration-test", "error-rate", "smoke"]
    env = spec.metrics[2].provider["job"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "IMAGE_TAG", "value": "1.27"}, {"name": "COMMIT_SHA", "value": "abc123"}]
