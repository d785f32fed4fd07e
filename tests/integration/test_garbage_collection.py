"""Garbage collection of Freight, as Kargo does it, run by the Warehouse after a pass: Freight
beyond the oldest one in use and the retained ones, and old enough, ends its FreightWorkflow
(readable in Temporal after), its alias free again; Freight a Stage holds stays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from client.api import GantryError
from tests.conftest import WorkerHandle, wait_for
from tests.gitrepos import source_repo
from tests.integration.test_promotion import apply_text
from tests.integration.test_warehouses import warehouse_doc
from tests.pipelines import make_gitops_repo, pipeline_manifests
from temporalio.client import WorkflowExecutionStatus

pytestmark = pytest.mark.integration

GC_CONFIG = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: {project}
  namespace: {project}
spec:
  garbageCollection:
    maxRetainedFreight: 1
    minFreightDeletionAge: 1h
"""


async def test_the_warehouse_collects_old_freight_beyond_the_oldest_in_use(
    worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    gantry = worker.gantry
    project = f"gc-{unique}"
    remote = make_gitops_repo(tmp_path / "remote")
    source = source_repo(tmp_path / "src")
    await apply_text(gantry, pipeline_manifests(project, remote.url) + GC_CONFIG.format(project=project))
    days_ago = datetime.now(timezone.utc) - timedelta(days=10)
    old = []
    for i in range(6):  # f0 the newest; all ten days old
        at = (days_ago - timedelta(hours=i)).isoformat()
        old.append(await gantry.create_freight(project, {
            "origin": {"kind": "Warehouse", "name": "app"},
            "images": [{"repoURL": "registry.test/app", "tag": f"0.{i}.0"}],
            "discoveredAt": at,
        }))  # fmt: skip
    in_use = old[3]
    assert (await (await gantry.promote(project, "dev", in_use["name"])).result()).phase == "Succeeded"

    # the Warehouse now watches a git repository: its pass makes new Freight, then collects
    await apply_text(gantry, warehouse_doc(project, f"  - git:\n      repoURL: file://{source}\n      branch: main\n"))
    status = await gantry.refresh_warehouse(project, "app", wait=True)
    assert status is not None and status.error == "" and status.last_freight

    # newest first: the new one, f0 .. f5; f3 is in dev; 1 more is retained (f4); f5 goes
    collected = gantry.client.get_workflow_handle(f"freight/{project}/{old[5]['name']}")

    async def closed() -> bool:
        return (await collected.describe()).status == WorkflowExecutionStatus.COMPLETED

    await wait_for(closed, timeout=30, message="the oldest Freight to be collected")
    last = await collected.result()
    assert last["name"] == old[5]["name"] and last["alias"] == old[5]["alias"], "readable in Temporal after"
    with pytest.raises(GantryError, match="does not exist"):
        await gantry.get_freight(project, old[5]["alias"])
    for kept in old[:5]:
        assert (await gantry.get_freight(project, kept["name"]))["name"] == kept["name"]
    # its alias is free again
    renamed = await gantry.set_freight_alias(project, old[0]["name"], old[5]["alias"])
    assert renamed["alias"] == old[5]["alias"]
