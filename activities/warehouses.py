"""Activities the WarehouseWorkflow (and the project) need to reach other workflows:
read the applied Warehouse, create Freight (FreightWorkflows), wake Warehouses."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.freight_store import FreightStore
from workflows.ids import project_workflow_id
from workflows.messages import FreightCreate, NewFreight, WakeWarehouses, WarehouseRef
from workflows.warehouse import wake_warehouse

M = TypeVar("M", bound=BaseModel)


def one_model(model: type[M], request: Any, **old: Any) -> M:
    """The one model an activity here takes. Until every task scheduled by a worker from before
    it has run, a task may carry the old arguments instead: the project name first, then `old`
    (docs/architecture.md, "Versioning"). The data converter leaves a `Model | str` argument
    a dict, so the model is validated here."""
    return model(project=request, **old) if isinstance(request, str) else model.model_validate(request)


class WarehouseActivities:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.task_queue = task_queue
        self.store = FreightStore(client, task_queue)

    @activity.defn(name="load_warehouse")
    async def load_warehouse(self, request: WarehouseRef | str, warehouse: str = "") -> dict[str, Any] | None:
        """The Warehouse as applied now; None when it (or its project) is gone."""
        request = one_model(WarehouseRef, request, warehouse=warehouse)
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
        request = one_model(NewFreight, request, freight=FreightCreate.model_validate(freight).freight if freight else {})
        try:
            return await self.store.create(request.project, request.freight, datetime.now(timezone.utc), check=False)
        except ValueError as err:  # FreightRefused, or Freight without artifacts
            raise ApplicationError(str(err), type="FreightRefused", non_retryable=True) from None

    @activity.defn(name="wake_warehouses")
    async def wake_warehouses(self, request: WakeWarehouses | str, warehouses: list[str] | None = None) -> None:
        request = one_model(WakeWarehouses, request, warehouses=warehouses or [])
        for name in request.warehouses:
            await wake_warehouse(self.client, self.task_queue, request.project, name)
