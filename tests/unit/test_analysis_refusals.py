"""#15: what Gantry's verification cannot run is refused at validate/apply, not accepted and
then an Error at every measurement: metric providers other than prometheus, web and job,
and templates that include other templates."""

from __future__ import annotations

from tests.unit.test_template_functions_check import issues

BASE = """---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: base, namespace: p}
spec:
  metrics:
  - name: ok
    provider:
      web: {url: "https://health.test/ok"}
"""
TEMPLATES = BASE + """---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: dd, namespace: p}
spec:
  templates:
  - templateName: base
  metrics:
  - name: errors
    successCondition: result < 1
    provider:
      datadog: {query: "avg:errors", interval: 5m}
"""


def test_unsupported_providers_and_included_templates_are_refused_naming_the_field() -> None:
    found = {(i.document, i.path): i.message for i in issues(TEMPLATES)}
    assert found == {
        ("AnalysisTemplate/dd", "spec.metrics[0].provider.datadog"): (
            "metric provider 'datadog' is not supported by Gantry (it measures with prometheus, web, job)"
        ),
        ("AnalysisTemplate/dd", "spec.templates"): (
            "templates that include other templates are not supported by Gantry yet; "
            "list each template in the Stage's verification instead"
        ),
    }


def test_supported_providers_pass() -> None:
    assert issues(BASE) == []
