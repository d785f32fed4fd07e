"""Implicit verification with argocd-update: verified only once the Applications it
updated are Healthy at the desired revision (Kargo's rule), polled on durable timers."""

from __future__ import annotations

import pytest

from tests.conftest import WorkerHandle
from tests.fakes.argocd import FakeArgoCD
from tests.integration.test_promotion import apply_text
from tests.integration.test_promotion_tasks import argocd  # noqa: F401  (fixture)
from tests.integration.test_stages import new_freight

pytestmark = pytest.mark.integration

STAGE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  subscriptions: [{{image: {{repoURL: registry.test/app}}}}]
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
      - uses: argocd-update
        config:
          apps:
          - name: {app}
"""


async def test_freight_is_verified_once_the_app_is_healthy(worker: WorkerHandle, argocd: FakeArgoCD, unique: str) -> None:  # noqa: F811
    project = f"health-{unique}"
    argocd.add_app(f"app-{unique}", authorized_stage=f"{project}:uat")
    await apply_text(worker.gantry, STAGE.format(project=project, app=f"app-{unique}"))
    freight = await new_freight(worker.gantry, project, "1.0.0")

    status = await (await worker.gantry.promote(project, "uat", freight["name"])).result()

    assert status.phase == "Succeeded", status
    assert status.health == "Healthy" and status.verified_at is not None
    assert status.verified_at >= status.steps[0].finished_at
    found = await worker.gantry.get_freight(project, freight["name"])
    assert "uat" in found["status"]["verifiedIn"]


async def test_an_unhealthy_app_leaves_the_freight_unverified(worker: WorkerHandle, argocd: FakeArgoCD, unique: str) -> None:  # noqa: F811
    project = f"sick-{unique}"
    argocd.add_app(f"app-{unique}", authorized_stage=f"{project}:uat")
    argocd.fail_next_sync = True
    await apply_text(worker.gantry, STAGE.format(project=project, app=f"app-{unique}"))
    freight = await new_freight(worker.gantry, project, "1.0.1")

    status = await (await worker.gantry.promote(project, "uat", freight["name"])).result()

    assert status.phase != "Succeeded" or status.verified_at is None
    found = await worker.gantry.get_freight(project, freight["name"])
    assert "uat" not in (found["status"].get("verifiedIn") or {})
