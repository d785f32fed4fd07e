"""Reads from the project catalog (the ProjectWorkflow) for workflows that need it.

A workflow cannot query another workflow, so a promotion reads its Stage, its Freight
and the tasks it uses through this activity, once, at its start.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from workflows.ids import project_workflow_id
from workflows.messages import PromotionContext, PromotionContextRequest


class CatalogActivities:
    def __init__(self, client: Client):
        self.client = client

    @activity.defn(name="load_promotion_context")
    async def load_promotion_context(self, request: PromotionContextRequest) -> PromotionContext:
        handle = self.client.get_workflow_handle(project_workflow_id(request.project))
        try:
            return await handle.query("promotion_context", request, result_type=PromotionContext)
        except WorkflowQueryFailedError as err:
            raise ApplicationError(str(err), type="NotFound", non_retryable=True) from err
        except RPCError as err:
            if "not found" in str(err).lower():
                raise ApplicationError(
                    f"project {request.project!r} does not exist (apply its manifests first)",
                    type="NotFound",
                    non_retryable=True,
                ) from err
            raise
