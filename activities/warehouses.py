"""Activities the WarehouseWorkflow (and the project) need to reach other workflows:
read the applied Warehouse, create Freight (FreightWorkflows), wake Warehouses."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightStore
from workflows.ids import project_workflow_id
from workflows.messages import FreightCreate, NewFreight, WakeWarehouses, WarehouseRef
from workflows.warehouse import wake_warehouse


class WarehouseActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.task_queue = task_queue
        self.store = FreightStore(client, task_queue)

    # Each activity here takes one model; until every workflow task scheduled by a worker from
    # before that (two arguments) has run, they take those too (docs/architecture.md, "Versioning").
    # The data converter leaves a `Model | str` argument a dict: each validates its own.

    @activity.defn(name="load_warehouse")
    async def load_warehouse(self, request: WarehouseRef | str, warehouse: str = "") -> dict[str, Any] | None:
        """The Warehouse as applied now; None when it (or its project) is gone."""
        request = (
            WarehouseRef(project=request, warehouse=warehouse)
            if isinstance(request, str)
            else WarehouseRef.model_validate(request)  # a union arrives as a dict
        )
        handle = self.client.get_workflow_handle(project_workflow_id(request.project))
        try:
            return await handle.query("warehouse", request.warehouse)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    @activity.defn(name="create_warehouse_freight")
    async def create_warehouse_freight(
        self, request: NewFreight | str, freight: FreightCreate | None = None
    ) -> dict[str, Any]:
        """Idempotent: Freight is named by its artifacts, so a retry finds the same one. The
        Warehouse's pass just read the Warehouse, so its origin is not checked again."""
        if isinstance(request, str):
            request = NewFreight(project=request, freight=FreightCreate.model_validate(freight).freight)
        else:
            request = NewFreight.model_validate(request)
        try:
            return await self.store.create(request.project, request.freight, datetime.now(timezone.utc), check=False)
        except ValueError as err:  # FreightRefused, or Freight without artifacts
            raise ApplicationError(str(err), type="FreightRefused", non_retryable=True) from None

    @activity.defn(name="wake_warehouses")
    async def wake_warehouses(self, request: WakeWarehouses | str, warehouses: list[str] | None = None) -> None:
        request = (
            WakeWarehouses(project=request, warehouses=warehouses or [])
            if isinstance(request, str)
            else WakeWarehouses.model_validate(request)
        )
        for name in request.warehouses:
            await wake_warehouse(self.client, self.task_queue, request.project, name)
