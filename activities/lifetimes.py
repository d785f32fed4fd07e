"""When workflows started: what tells a project, Stage or Freight apart from a deleted one of
the same name (their workflow ids are the same, their first runs are not)."""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def started_at(client: Client, workflow_id: str, run_id: str | None = None) -> datetime | None:
    """The start of the run (the latest without `run_id`); None when there is none."""
    try:
        description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.start_time


async def first_started(client: Client, workflow_id: str) -> datetime | None:
    """When the workflow first started, before any continue-as-new: None when it never ran or
    its first run is past retention."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    first = description.raw_description.workflow_execution_info.first_run_id
    if not first or first == description.run_id:
        return description.start_time
    return await started_at(client, workflow_id, first)
