"""Activities that took two arguments take one model now; a workflow task scheduled by a
worker from before (its arguments already in history) must still run on the new worker.
A stand-in workflow schedules them with the old arguments and the new, on the real server."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.warehouses import WarehouseActivities
from tests.conftest import WorkerHandle
from tests.integration.test_promotion import apply_text
from tests.pipelines import pipeline_manifests
from workflows.messages import FreightCreate, NewFreight, WakeWarehouses, WarehouseRef

pytestmark = pytest.mark.integration


@workflow.defn(name="OldActivityShapes")
class OldActivityShapes:
    @workflow.run
    async def run(self, project: str) -> list[Any]:
        options: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=30)}
        warehouse = await workflow.execute_activity("load_warehouse", args=[project, "app"], **options)
        freight = FreightCreate(
            freight={"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "4.0.0"}]}
        )
        created = await workflow.execute_activity("create_warehouse_freight", args=[project, freight], **options)
        await workflow.execute_activity("wake_warehouses", args=[project, ["app"]], **options)
        # and the shapes of now
        again = await workflow.execute_activity("load_warehouse", WarehouseRef(project=project, warehouse="app"), **options)
        same = await workflow.execute_activity(
            "create_warehouse_freight", NewFreight(project=project, freight=freight.freight), **options
        )
        await workflow.execute_activity("wake_warehouses", WakeWarehouses(project=project, warehouses=["app"]), **options)
        return [warehouse, created, again, same]


async def test_activities_still_take_the_arguments_of_before(client: Client, worker: WorkerHandle, unique: str) -> None:
    project = f"shapes-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git"))
    task_queue = f"old-shapes-{uuid.uuid4().hex[:8]}"
    warehouses = WarehouseActivities(client, worker.task_queue)
    old = Client(client.service_client, namespace=client.namespace, data_converter=pydantic_data_converter)
    async with Worker(
        old,
        task_queue=task_queue,
        workflows=[OldActivityShapes],
        activities=[warehouses.load_warehouse, warehouses.create_warehouse_freight, warehouses.wake_warehouses],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        warehouse, created, again, same = await old.execute_workflow(
            OldActivityShapes.run, project, id=f"old-shapes-{unique}", task_queue=task_queue,
            execution_timeout=timedelta(seconds=120),
        )  # fmt: skip
    assert again == warehouse and same == created
    assert warehouse["metadata"]["name"] == "app"
    assert created["images"][0]["tag"] == "4.0.0"
    assert (await worker.gantry.get_freight(project, created["name"]))["alias"] == created["alias"]
    running = await client.get_workflow_handle(f"warehouse/{project}/app").describe()
    assert running.status is not None and running.status.name == "RUNNING"
