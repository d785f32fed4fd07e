"""Builds and runs Gantry's Temporal workers.

One process runs two workers: one on the shared task queue (all workflows and the
catalog activities) and one on its own queue (the promotion steps), named after the
host and the work directory so that a restarted worker takes back the steps of the
promotions whose working directories it holds.

Building the workers also hardens the process they run in (``protect_worker_process``:
no other process of the same user can read its memory or ``/proc/<pid>/environ``) and
makes a failed activity log one line when it failed on purpose
(``OneLineApplicationErrors``: a step's ``StepFailed`` is news, not a crash).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.exceptions import CancelledError as TemporalCancelledError
from temporalio.exceptions import TemporalError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker
from temporalio.worker.workflow_sandbox import (
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)

from activities.argocd_health import argocd_health
from client.bytecode import compile_modules
from client.errors import debug_enabled, is_unavailable, unwrap
from client.health import HealthState
from activities.catalog import CatalogActivities
from activities.freight import FreightActivities
from activities.garbage import GarbageActivities
from activities.discovery import DISCOVERY_ACTIVITIES
from activities.heartbeat import HEARTBEAT_EVERY
from activities.metrics import METRIC_ACTIVITIES
from activities.stages import StageActivities
from activities.steps import STEP_ACTIVITIES
from activities.steps.base import work_root
from activities.step_secrets import StepSecrets
from activities.warehouses import WarehouseActivities
from activities.workdir import WorkdirActivities
from contracts.steps import WORKER_STOPPED
import workflows
from workflows.freight import FreightWorkflow
from workflows.freight_alias import FreightAliasWorkflow
from workflows.project import ProjectWorkflow
from workflows.promotion import PromotionWorkflow
from workflows.stage import StageWorkflow
from workflows.task_queues import DEFAULT_TASK_QUEUE, default_worker_id, worker_queue
from workflows.verification import VerificationWorkflow
from workflows.warehouse import WarehouseWorkflow

log = structlog.get_logger("gantry.worker")

#: Heartbeats reach the server as often as activities send them (every HEARTBEAT_EVERY s), not
#: at 80% of the heartbeat timeout as the SDK throttles by default: with a 10 s timeout the
#: server would otherwise see one heartbeat per 8 s, 2 s of margin before a live step is
#: taken for dead; now 8 s (docs/architecture.md "Durability").
HEARTBEAT_THROTTLE = timedelta(seconds=HEARTBEAT_EVERY)
STICKY_TIMEOUT = timedelta(seconds=3)
#: workflows a worker keeps in memory between their tasks (the SDK's default); a workflow not
#: kept is replayed from its history for its next task or query. Every Freight is a workflow,
#: so a project making thousands of Freight pushes its long-lived workflows out of a small
#: cache (bench/scale.py); each cached workflow costs some tens of KB.
MAX_CACHED_WORKFLOWS = 1000


#: how long a stopping worker (SIGTERM, SIGINT) lets its running steps finish before it
#: cancels them; a step cut off resumes elsewhere (docs/operations.md "Stopping a worker")
GRACE_PERIOD = 60.0
GRACE_PERIOD_ENV = "GANTRY_WORKER_GRACE_PERIOD"


def grace_period(explicit: float | None = None) -> float:
    """Seconds of grace: ``explicit``, else GANTRY_WORKER_GRACE_PERIOD, else GRACE_PERIOD."""
    if explicit is not None:
        value: object = explicit
    else:
        value = os.environ.get(GRACE_PERIOD_ENV, "").strip() or GRACE_PERIOD
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"{GRACE_PERIOD_ENV} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise ValueError(f"the grace period must not be negative, not {seconds}")
    return seconds


def max_cached_workflows() -> int:
    value = os.environ.get("GANTRY_MAX_CACHED_WORKFLOWS", "").strip()
    if not value:
        return MAX_CACHED_WORKFLOWS
    if not value.isdigit():
        raise ValueError(f"GANTRY_MAX_CACHED_WORKFLOWS must be a whole number, not {value!r}")
    return int(value)
PASSTHROUGH = (
    "pydantic", "pydantic_core", "pipeline", "contracts", "activities", "ruamel", "structlog", "re2",
    "opentelemetry",  # traces (client/tracing.py): the tracing interceptor runs in workflows too
)  # fmt: skip
WORKFLOWS = [
    ProjectWorkflow,
    PromotionWorkflow,
    StageWorkflow,
    VerificationWorkflow,
    WarehouseWorkflow,
    FreightWorkflow,
    FreightAliasWorkflow,
]


def protect_worker_process() -> bool:
    """Make this process non-dumpable (Linux ``prctl(PR_SET_DUMPABLE, 0)``): its
    ``/proc/<pid>/environ``, ``mem`` and file descriptors become root's, and no process of
    the same user may ptrace it, so a job or tool the worker starts cannot read the
    credentials in the worker's environment. Children start dumpable again (execve resets
    the flag), which is what they need. No core dumps of the worker either. Returns whether
    the flag is set; a no-op elsewhere than Linux. Self-contained (the tests run its source
    in a bare interpreter)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    pr_set_dumpable, pr_get_dumpable = 4, 3
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
            return False
        return libc.prctl(pr_get_dumpable, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


#: the Temporal SDK's loggers that log failures with their traceback
SDK_LOGGERS = (
    "temporalio.activity",
    "temporalio.workflow",
    "temporalio.worker._activity",
    "temporalio.worker._workflow",
    "temporalio.worker._workflow_instance",
)


class OneLineApplicationErrors(logging.Filter):
    """Temporal's workers log every failed activity and every failed workflow task with its
    traceback ("Completing activity as failed", "Failed activation on workflow ...",
    ``exc_info``). In the worker's terminal that is one line per failure, unless --debug
    (GANTRY_DEBUG=1) asks for tracebacks:

    - an ``ApplicationError`` (also as the cause of an activity or child failure) is raised on
      purpose (a step's ``StepFailed``, a lost working directory, a refused input): its
      message says everything, ``... failed: <type>: <message>``;
    - a server that went away is news, not a crash: ``...: <message>``;
    - anything else is a bug: one line that says so and how to see the traceback.

    With ``debug`` (default: GANTRY_DEBUG at the time of each record) records keep their
    traceback."""

    def __init__(self, debug: bool | None = None) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if workflow.unsafe.in_sandbox():  # a workflow's own log line: the environment is off limits there
            with workflow.unsafe.sandbox_unrestricted():
                return self._filter(record)
        return self._filter(record)

    def _filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if err is None or (self.debug if self.debug is not None else debug_enabled()):
            return True
        cause = unwrap(err)
        text = (getattr(cause, "message", None) or str(cause)).strip().splitlines()
        first = text[0] if text else ""
        if isinstance(cause, ApplicationError):
            line = "%s: %s: %s" % (record.getMessage(), cause.type or "ApplicationError", first)
        elif is_unavailable(cause) or isinstance(cause, (asyncio.CancelledError, TemporalCancelledError)):
            line = "%s: %s" % (record.getMessage(), first or type(cause).__name__)
        elif isinstance(cause, TemporalError):
            # a workflow's refusal seen through the client (a failed query or update, a
            # failed child), a timeout, a refused RPC: the request's problem, not a bug
            line = "%s: %s: %s" % (record.getMessage(), type(cause).__name__, first)
        else:
            line = "%s: %s%s (a bug in Gantry: run the worker with --debug or GANTRY_DEBUG=1 for the traceback)" % (
                record.getMessage(),
                type(cause).__name__,
                ": " + first if first else "",
            )
        record.msg = line
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


_ONE_LINE = OneLineApplicationErrors()


def install_log_filter() -> None:
    """Put :class:`OneLineApplicationErrors` on the SDK's loggers that log tracebacks (once)."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if _ONE_LINE not in logger.filters:
            logger.addFilter(_ONE_LINE)


#: the fields of an activity's input that name what it works on, bound to every log line
#: the activity writes (client/logging_setup.py); ``alias`` is a step's, logged as ``step``
LOG_FIELDS = {"project": "project", "stage": "stage", "promotion": "promotion", "warehouse": "warehouse", "alias": "step", "uses": "uses"}


def log_context(args: Any) -> dict[str, str]:
    """The names in an activity's first argument (a StepInput, a request model, a dict)."""
    first = args[0] if args else None
    fields: dict[str, str] = {}
    for name, key in LOG_FIELDS.items():
        value = first.get(name) if isinstance(first, dict) else getattr(first, name, None)
        if isinstance(value, str) and value:
            fields[key] = value
    return fields


class _ActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, steps: bool) -> None:
        super().__init__(next)
        self.steps = steps

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with structlog.contextvars.bound_contextvars(**log_context(input.args)):
            try:
                return await super().execute_activity(input)
            except (asyncio.CancelledError, TemporalCancelledError):
                details = activity.cancellation_details()
                if not self.steps or details is None or not details.worker_shutdown:
                    raise
                raise ApplicationError(
                    f"the worker stopped before this step finished (its grace period of "
                    f"{grace_period():g}s was over); the step runs again",
                    type=WORKER_STOPPED,
                    non_retryable=True,
                ) from None


class ActivityInterceptor(Interceptor):
    """Every activity's log lines carry the project, stage, promotion or warehouse and step
    its input names. On the step worker (``steps``), a step the stopping worker cuts off fails
    as ``WorkerStopped`` (the promotion sends it again), not as an error of the step (the SDK's
    "Worker is shutting down and this activity did not complete in time")."""

    def __init__(self, steps: bool = False) -> None:
        self.steps = steps

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next, self.steps)


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def resolve_worker_id(explicit: str | None = None) -> str:
    return explicit or os.environ.get("GANTRY_WORKER_ID") or default_worker_id(socket.gethostname(), str(work_root()))


def build_workers(
    client: Client,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    worker_id: str | None = None,
    grace: float | None = None,
) -> list[Worker]:
    """The shared-queue worker and this host's step worker (and the process hardened, see
    :func:`protect_worker_process`, with one-line failures, see :func:`install_log_filter`).
    On shutdown both let running activities finish for ``grace`` seconds (:func:`grace_period`)."""
    protect_worker_process()
    # the sandbox re-imports these for every workflow run: from bytecode, not from source
    compile_modules(Path(workflows.__file__).parent)
    graceful = timedelta(seconds=grace_period(grace))
    install_log_filter()
    own_queue = worker_queue(resolve_worker_id(worker_id))
    workdirs = WorkdirActivities(own_queue)
    catalog = CatalogActivities(client, task_queue)
    freight = FreightActivities(client, task_queue)
    garbage = GarbageActivities(client, task_queue)
    stages = StageActivities(client, task_queue)
    warehouses = WarehouseActivities(client, task_queue)
    shared = Worker(
        client,
        task_queue=task_queue,
        # a workflow whose last task ran on a worker that died waits this long on that
        # worker's sticky queue before any worker may take it (the SDK's default is 10 s)
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        max_cached_workflows=max_cached_workflows(),
        graceful_shutdown_timeout=graceful,
        interceptors=[ActivityInterceptor()],
        workflows=WORKFLOWS,
        activities=[
            workdirs.claim_worker,
            catalog.load_promotion_context,
            catalog.change_catalog,
            freight.change_freight,
            freight.import_freight,
            freight.store_freight,
            freight.end_project_freight,
            freight.forget_stage_in_freight,
            garbage.collect_garbage,
            stages.request_stage_lock,
            stages.workflow_is_running,
            stages.notify_downstream,
            stages.auto_promote,
            warehouses.load_warehouse,
            warehouses.create_warehouse_freight,
            warehouses.wake_warehouses,
            *DISCOVERY_ACTIVITIES,
            argocd_health,
            *METRIC_ACTIVITIES,
        ],
        workflow_runner=sandbox_runner(),
    )
    step_worker = Worker(
        client,
        task_queue=own_queue,
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        graceful_shutdown_timeout=graceful,
        # outermost first: the log fields and the stopping worker's rule cover the secret
        # rendering too; the secrets are rendered just before the step and scrubbed after it
        interceptors=[ActivityInterceptor(steps=True), StepSecrets()],
        activities=[workdirs.cleanup_workdir, workdirs.workdir_diff, *STEP_ACTIVITIES],
    )
    return [shared, step_worker]


async def run_workers(
    client: Client, *, stop: asyncio.Event | None = None, health: HealthState | None = None, **kwargs: object
) -> None:
    """Run until `stop` is set (or forever, or until a worker fails), then shut down
    gracefully: the workers stop polling at once, and running activities get the grace
    period (:func:`build_workers`) to finish before they are cancelled. ``health`` (for
    ``/healthz`` and ``/readyz``) follows along."""
    workers = build_workers(client, **kwargs)  # type: ignore[arg-type]
    stop = stop or asyncio.Event()
    runs = [asyncio.create_task(w.run()) for w in workers]
    if health is not None:
        health.client, health.loop, health.runs, health.running = client, asyncio.get_running_loop(), runs, True
    log.info("worker started", task_queues=[w.task_queue for w in workers], work_dir=str(work_root()))
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*runs, waiter], return_when=asyncio.FIRST_COMPLETED)
    if health is not None:
        health.shutting_down = True
    if waiter in done:
        log.info("worker stopping: no new work; running steps may finish", grace_seconds=grace_period(kwargs.get("grace")))  # type: ignore[arg-type]
    else:
        waiter.cancel()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    if health is not None:
        health.running = False
    for task in runs:
        if task in done and task.exception():
            raise task.exception()  # type: ignore[misc]
    log.info("worker stopped")
