"""The floor a Gantry promotion is measured against: a plain Temporal workflow that runs N
no-op activities one after the other, laid out as Gantry is (the workflow on one task queue,
its activities on a second one, as Gantry's steps run on the worker's own queue), so that
what a no-op Gantry promotion costs beyond it is Gantry's own. For comparison, the same
workflow with its activities on its own queue, where the SDK dispatches them eagerly (in the
reply to the workflow task that schedules them, with no separate poll)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

WORKFLOW_QUEUE = "bench-bare"
ACTIVITY_QUEUE = "bench-bare/steps"
EAGER_QUEUE = "bench-bare/eager"  # the workflow and its activities on one queue, one worker


@dataclass
class BareRun:
    """What the bare workflow runs: how many no-op activities, on which queue."""

    activities: int
    activity_queue: str


@activity.defn(name="bench-noop")
async def noop(n: int) -> int:
    return n


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, spec: BareRun) -> int:
        for n in range(spec.activities):
            await workflow.execute_activity(noop, n, task_queue=spec.activity_queue, start_to_close_timeout=timedelta(seconds=30))
        return spec.activities


def bare_workers(client: Client) -> list[Worker]:
    """The bare workflow's worker and its activities' worker, with the sandbox Gantry's uses;
    and one worker running both on EAGER_QUEUE."""
    from client.worker import sandbox_runner

    return [
        Worker(client, task_queue=WORKFLOW_QUEUE, workflows=[BareWorkflow], workflow_runner=sandbox_runner()),
        Worker(client, task_queue=ACTIVITY_QUEUE, activities=[noop]),
        Worker(client, task_queue=EAGER_QUEUE, workflows=[BareWorkflow], activities=[noop], workflow_runner=sandbox_runner()),
    ]


async def run_bare(client: Client, workflow_id: str, activities: int = 6, *, eager: bool = False) -> int:
    """Start the bare workflow and wait for its result (``eager``: all on EAGER_QUEUE)."""
    workflow_queue, activity_queue = (EAGER_QUEUE, EAGER_QUEUE) if eager else (WORKFLOW_QUEUE, ACTIVITY_QUEUE)
    return await client.execute_workflow(
        BareWorkflow.run, BareRun(activities, activity_queue), id=workflow_id, task_queue=workflow_queue
    )
