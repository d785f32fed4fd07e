"""The one way a promotion is started, whoever starts it (`gantry promote`, `gantry verify`,
auto-promotion): the same id shape (`promotion/<project>/<stage>/<name>`), the same search
attributes (project, stage, Freight, phase), the same summaries in Temporal Web.

Kept with the activities (it does I/O) so that both the client and the activities use it
without the activities importing the client.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from workflows import search_attributes as sa
from workflows.ids import promotion_workflow_id
from workflows.messages import PromotionRequest, PromotionStatus

#: what Temporal Web's summary starts with, by kind of promotion
VERBS = {"dry_run": "Dry run: promote", "verify_only": "Verify", "auto": "Auto-promote", "": "Promote"}


def promotion_summary(request: PromotionRequest, freight: dict[str, Any]) -> str:
    kind = next((k for k in ("dry_run", "verify_only", "auto") if getattr(request, k)), "")
    label = freight.get("alias") or str(freight.get("name") or request.freight)[:7]
    preposition = "in" if request.verify_only else "to"
    return f"{VERBS[kind]} {label} {preposition} {request.stage} ({request.project})"


async def start_promotion(
    client: Client,
    task_queue: str,
    request: PromotionRequest,
    name: str,
    freight: dict[str, Any],
    *,
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> WorkflowHandle[Any, PromotionStatus]:
    """Start PromotionWorkflow `name` for `request`; `freight` is the Freight found (name, alias)."""
    return await client.start_workflow(
        "PromotionWorkflow",
        request,
        id=promotion_workflow_id(request.project, request.stage, name),
        task_queue=task_queue,
        result_type=PromotionStatus,
        id_reuse_policy=reuse,
        static_summary=promotion_summary(request, freight),
        static_details=f"Freight `{freight.get('name') or request.freight}` ({freight.get('alias')}) to stage "
        f"`{request.stage}` of project `{request.project}`, requested by {request.actor or 'unknown'}.",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.PROJECT, request.project),
                SearchAttributePair(sa.STAGE, request.stage),
                SearchAttributePair(sa.FREIGHT, str(freight.get("name") or request.freight)),
                SearchAttributePair(sa.PHASE, "Pending"),
            ]
        ),
    )
