"""Verification: the Stage's AnalysisTemplates run as a VerificationWorkflow child of the
promotion, with Argo Rollouts' verdicts, against a scripted web endpoint, local jobs and a
real Prometheus."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.conftest import WorkerHandle
from tests.jobs import JOB_PYTHON  # a python the job's user can run (nobody under a root worker)
from tests.httpserver import ScriptedServer
from tests.integration.test_promotion import apply_text
from workflows import search_attributes as sa
from workflows.ids import verification_workflow_id
from workflows.verification import VerificationStatus

pytestmark = pytest.mark.integration

PIPELINE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  subscriptions: [{{image: {{repoURL: my-registry/my-app}}}}]
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: uat, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        config: {{deployed: "yes"}}
  verification:
    analysisTemplates:
{refs}
    args:
    - name: image-tag
      value: ${{{{ imageFrom("my-registry/my-app").Tag }}}}
---
"""

ERROR_RATE = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: error-rate-check, namespace: {project}}}
spec:
  metrics:
  - name: error-rate
    interval: 1s
    count: 5
    successCondition: result[0] < 0.05
    failureLimit: 2
    provider:
{provider}
---
"""

SMOKE = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: smoke-test, namespace: {project}}}
spec:
  args:
  - name: image-tag
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: smoke
                image: my-registry/smoke-tests:latest
                command: ["{python}", "-c", "import os, sys; print('testing', os.environ['IMAGE_TAG']); sys.exit(0 if os.environ['IMAGE_TAG'] == '{good}' else 3)"]
                env:
                - name: IMAGE_TAG
                  value: "{{{{ args.image-tag }}}}"
              restartPolicy: Never
          backoffLimit: 0
---
"""


def web_provider(url: str) -> str:
    return f"      web:\n        url: {url}/rate\n        jsonPath: \"{{$.values}}\""


async def promote_and_verify(worker: WorkerHandle, project: str, text: str, tag: str = "1.0.0"):
    await apply_text(worker.gantry, text)
    freight = await new_freight_of(worker, project, tag)
    status = await (await worker.gantry.promote(project, "uat", freight["name"])).result()
    name = status.name.rsplit("/", 1)[-1]
    run = await worker.gantry.verification_result(verification_workflow_id(project, "uat", name))
    found = await worker.gantry.get_freight(project, freight["name"])
    return status, run, found


async def new_freight_of(worker: WorkerHandle, project: str, tag: str) -> dict:
    return await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "my-registry/my-app", "tag": tag}]}
    )


BAD, OK = (200, {"values": [0.2]}), (200, {"values": [0.01]})


@pytest.mark.parametrize(
    ("script", "phase", "measured"),
    [
        ([BAD, BAD, BAD, OK, OK], "Failed", 3),  # failed (3) > failureLimit (2): ends early
        ([BAD, OK, BAD, OK, OK], "Successful", 5),  # 2 of 5 failed: within the limit
        ([OK] * 5, "Successful", 5),
    ],
)
async def test_error_rate_verdicts(worker: WorkerHandle, unique: str, script, phase: str, measured: int) -> None:
    project = f"ver-{unique}"
    with ScriptedServer(script=list(script), then=OK) as server:
        text = PIPELINE.format(project=project, refs="    - name: error-rate-check") + ERROR_RATE.format(
            project=project, provider=web_provider(server.url)
        )
        text = text.replace("    args:\n    - name: image-tag\n      value: ${{ imageFrom(\"my-registry/my-app\").Tag }}\n", "")
        status, run, freight = await promote_and_verify(worker, project, text)

    assert status.phase == "Succeeded"
    assert run.phase == phase, run
    metric = run.metrics[0]
    assert len(metric.measurements) == measured
    assert [m.phase for m in metric.measurements][:3] == ["Failed" if s == BAD else "Successful" for s in script[:3]]
    verified = "uat" in (freight["status"].get("verifiedIn") or {})
    assert verified == (phase == "Successful")
    assert (status.verified_at is not None) == verified
    assert status.verification.startswith(phase)
    # Temporal tells the same: a verification that did not succeed fails its workflow
    name = status.name.rsplit("/", 1)[-1]
    described = await worker.gantry.client.get_workflow_handle(verification_workflow_id(project, "uat", name)).describe()
    assert described.status == (WorkflowExecutionStatus.COMPLETED if phase == "Successful" else WorkflowExecutionStatus.FAILED)
    assert described.typed_search_attributes.get(sa.PHASE) == phase


@pytest.mark.parametrize(("good", "phase"), [("1.0.0", "Successful"), ("9.9.9", "Failed")])
async def test_job_with_args_from_the_freight(worker: WorkerHandle, unique: str, good: str, phase: str) -> None:
    project = f"job-{unique}"
    text = PIPELINE.format(project=project, refs="    - name: smoke-test") + SMOKE.format(
        project=project, python=JOB_PYTHON, good=good
    )
    status, run, freight = await promote_and_verify(worker, project, text, tag="1.0.0")
    assert run.phase == phase, run
    measurement = run.metrics[0].measurements[0]
    assert "testing 1.0.0" in measurement.message
    assert ("uat" in (freight["status"].get("verifiedIn") or {})) == (phase == "Successful")


@pytest.mark.parametrize(("rate", "phase"), [(0.01, "Successful"), (0.10, "Failed")])
async def test_error_rate_from_a_real_prometheus(
    worker: WorkerHandle, prometheus, unique: str, rate: float, phase: str  # noqa: F811
) -> None:
    project = f"prom-{unique}"
    app = f"app-{unique}"
    prometheus.app.set_error_rate(rate, app=app, namespace="uat")
    query = (
        f'sum(rate(http_requests_total{{status=~"5.*",app="{app}",namespace="uat"}}[5m])) / '
        f'sum(rate(http_requests_total{{app="{app}",namespace="uat"}}[5m]))'
    )
    prometheus.wait_for(query)
    provider = f"      prometheus:\n        address: {prometheus.address}\n        query: '{query}'"
    text = PIPELINE.format(project=project, refs="    - name: error-rate-check") + ERROR_RATE.format(
        project=project, provider=provider
    )
    text = text.replace("    args:\n    - name: image-tag\n      value: ${{ imageFrom(\"my-registry/my-app\").Tag }}\n", "")
    status, run, freight = await promote_and_verify(worker, project, text)
    assert run.phase == phase, run
    values = [m.value[0] for m in run.metrics[0].measurements]
    assert all(abs(v - rate) < 0.03 for v in values), values


async def test_missing_template_arg_is_an_error_before_any_measurement(worker: WorkerHandle, unique: str) -> None:
    project = f"arg-{unique}"
    text = PIPELINE.format(project=project, refs="    - name: smoke-test") + SMOKE.format(
        project=project, python=JOB_PYTHON, good="x"
    )
    text = text.replace("    args:\n    - name: image-tag\n      value: ${{ imageFrom(\"my-registry/my-app\").Tag }}\n", "")
    await apply_text(worker.gantry, text)
    freight = await new_freight_of(worker, project, "1.0.0")
    status = await (await worker.gantry.promote(project, "uat", freight["name"])).result()
    assert status.phase == "Succeeded"
    assert status.verified_at is None
    assert status.verification.startswith("Error:") and "image-tag" in status.verification
