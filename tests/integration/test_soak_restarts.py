"""A short real-time soak on the dev server, with a worker restart and a dev-server restart
(same SQLite file, same port) in the middle: the promotion still happens, once. The same
for a Warehouse's interval timer: its next pass still comes, and makes its Freight once.

These tests start their OWN dev server (not the session's), because they restart it. The
worker is a subprocess (tests/workerproc.py) whose process group is SIGKILLed, as when a
machine dies, and started again with the same worker id and work directory.

Sequence, during the soak of Freight verified in dev:
  kill the worker (SIGKILL of its group) -> stop the dev server (SIGTERM) ->
  start a dev server on the same SQLite file and port -> start the worker again ->
  reconnect the client (a new Client; the old one talked to the dead server).
Then the promotion to staging must succeed exactly once, not before the soak ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus

from client.api import Gantry
from client.devserver import DevServer, ensure_search_attributes, free_port
from client.settings import TemporalSettings
from tests.conftest import wait_for
from tests.integration.test_promotion import apply_text
from tests.integration.test_stages import AUTO_CONFIG, new_freight, with_soak
from tests.pipelines import GitOpsRepo, make_gitops_repo, pipeline_manifests
from tests.registry import registry  # noqa: F401  (fixture)
from tests.workerproc import WorkerPool, WorkerProcess
from workflows.ids import promotion_workflow_id, stage_workflow_id
from workflows.messages import PromotionRequest, PromotionStatus, StageLockView

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SOAK = timedelta(seconds=8)
WORKER_ID = "soak-host"


# -- helpers ---------------------------------------------------------------------------


async def connect_when_ready(address: str, timeout: float = 20.0) -> Client:
    """A new Client, once the server answers a real call.

    `DevServer.start()` returns when the port accepts connections, which may be before the
    frontend is healthy (Client.connect then raises, or the first call fails with
    UNAVAILABLE), so connect and describe the namespace until both work or the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await TemporalSettings(address=address, namespace="default").connect()
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
            return client
        except Exception as err:  # RuntimeError from connect, RPCError from the call
            if time.monotonic() > deadline:
                raise AssertionError(f"Temporal at {address} not ready within {timeout}s: {err}") from err
            await asyncio.sleep(0.1)


async def has_pollers(client: Client, task_queue: str) -> bool:
    """True once a worker polls `task_queue` for workflow tasks."""
    try:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except Exception:
        return False
    return len(answer.pollers) > 0


@dataclass
class OwnServer:
    """A dev server of this test alone, restartable on the same SQLite file and port."""

    db_file: Path
    port: int
    log_file: Path
    server: DevServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = DevServer(db_file=self.db_file, port=self.port, ui_port=None, log_file=self.log_file).start()

    def stop(self) -> None:
        if self.server:
            self.server.stop()  # SIGTERM, then SIGKILL after 10 s
            self.server = None


@dataclass
class Setup:
    own: OwnServer
    pool: WorkerPool
    repo: GitOpsRepo
    project: str
    task_queue: str
    tmp: Path

    def start_worker(self) -> WorkerProcess:
        # same id, same work dir (tmp/work-<id>) every time: the same "machine"
        return self.pool.start(WORKER_ID)

    def diagnostics(self) -> str:
        server_log = self.own.log_file.read_text(errors="replace")[-2000:] if self.own.log_file.exists() else ""
        return f"\n--- worker log ---\n{self.pool.log_tail()}\n--- server log ---\n{server_log}"


@pytest.fixture
def setup(tmp_path: Path, unique: str) -> Iterator[Setup]:
    own = OwnServer(db_file=tmp_path / "temporal" / "temporal.db", port=free_port(), log_file=tmp_path / "server.log")
    own.start()
    task_queue = f"gantry-soak-{unique}"
    pool = WorkerPool(own.address, task_queue, tmp_path)
    try:
        yield Setup(own, pool, make_gitops_repo(tmp_path / "remote"), f"soakr-{unique}", task_queue, tmp_path)
    finally:
        pool.stop_all()
        own.stop()


async def start_and_wait_for_worker(setup: Setup, client: Client) -> WorkerProcess:
    worker = setup.start_worker()
    await wait_for(lambda: has_pollers(client, setup.task_queue), timeout=30, message="the worker to poll" + setup.diagnostics())
    return worker


async def restart_everything(setup: Setup, worker: WorkerProcess) -> tuple[Client, dict[str, float]]:
    """Kill the worker, stop the server, start both again; a new client. Returns monotonic times."""
    times = {"kill": time.monotonic()}
    worker.kill_group()
    times["server_stop"] = time.monotonic()
    setup.own.stop()
    setup.own.start()  # same SQLite file, same port
    times["server_started"] = time.monotonic()
    client = await connect_when_ready(setup.own.address)
    await ensure_search_attributes(client)
    await start_and_wait_for_worker(setup, client)
    times["worker_back"] = time.monotonic()
    return client, times


async def verified_in_dev(gantry: Gantry, project: str, freight: str) -> datetime:
    found = await gantry.get_freight(project, freight)
    return datetime.fromisoformat(found["status"]["verifiedIn"]["dev"]["verifiedAt"])


async def staging_promotions(client: Client, project: str) -> list:
    query = f"WorkflowType='PromotionWorkflow' AND GantryStage='staging' AND GantryProject='{project}'"
    return [e async for e in client.list_workflows(query)]


async def stage_is_idle(client: Client, project: str, stage: str) -> bool:
    try:
        view = await client.get_workflow_handle(stage_workflow_id(project, stage)).query("lock", result_type=StageLockView)
    except Exception:
        return False
    return view.holder is None and not view.queue and not view.pending


def staging_commits(repo: GitOpsRepo) -> list[str]:
    from tests.gitrepos import git

    return git("--git-dir", str(repo.bare), "log", "--format=%H", "main", "--", "env/staging").split()


async def assert_promoted_once(
    setup: Setup, client: Client, workflow_id: str, verified_at: datetime, staging_before: list[str], tag: str
) -> None:
    status = await asyncio.wait_for(Gantry(client, setup.task_queue).promotion_result(workflow_id), 45)
    assert status.phase == "Succeeded", f"{status}{setup.diagnostics()}"
    assert status.steps[0].started_at >= verified_at + SOAK, (
        f"first step started at {status.steps[0].started_at}, before the soak ended at {verified_at + SOAK}"
    )
    # only one run of that id (no retry / reset / second start under the same id)
    async def closed_in_visibility() -> bool:  # visibility is eventually consistent
        runs = [e async for e in client.list_workflows(f"WorkflowId='{workflow_id}'")]
        return any(r.status == WorkflowExecutionStatus.COMPLETED for r in runs)

    await wait_for(closed_in_visibility, timeout=10, message="the promotion to show as completed")
    runs = [e async for e in client.list_workflows(f"WorkflowId='{workflow_id}'")]
    assert len(runs) == 1, [(r.id, r.run_id, r.status) for r in runs]
    # nothing else promoted to staging, even after the stage settled
    await wait_for(lambda: stage_is_idle(client, setup.project, "staging"), timeout=20, message="staging to be idle")
    promotions = await staging_promotions(client, setup.project)
    assert [p.id for p in promotions] == [workflow_id]
    after = staging_commits(setup.repo)
    assert len(after) == len(staging_before) + 1, "expected exactly one new commit for staging"
    assert f"newTag: {tag}" in setup.repo.show("env/staging/kustomization.yaml")


# -- tests -----------------------------------------------------------------------------


async def test_auto_promotion_after_soak_survives_worker_and_server_restarts(setup: Setup) -> None:
    client = await connect_when_ready(setup.own.address)
    await ensure_search_attributes(client)
    worker = await start_and_wait_for_worker(setup, client)
    gantry = Gantry(client, setup.task_queue)
    project = setup.project
    await apply_text(
        gantry, with_soak(pipeline_manifests(project, setup.repo.url), f"{int(SOAK.total_seconds())}s") + AUTO_CONFIG.format(project=project)
    )
    freight = await new_freight(gantry, project, "8.0.0")
    staging_before = staging_commits(setup.repo)
    dev = await asyncio.wait_for((await gantry.promote(project, "dev", freight["name"])).result(), 30)
    assert dev.phase == "Succeeded", dev
    verified_at = await verified_in_dev(gantry, project, freight["name"])
    soak_ends = time.monotonic() + (verified_at + SOAK - dev.finished_at).total_seconds()  # approx., client clock

    # the staging StageWorkflow holds a pending auto-promotion (its durable timer) before we pull the plug
    async def pending() -> bool:
        view = await gantry.stage_lock(project, "staging")
        return bool(view and freight["name"] in view.pending)

    await wait_for(pending, timeout=10, message="staging to await the soak" + setup.diagnostics())
    assert time.monotonic() < soak_ends - 1, "too slow: the soak is nearly over before the restarts"

    client, times = await restart_everything(setup, worker)
    assert times["server_stop"] < soak_ends, "the server went down only after the soak ended: not a mid-soak restart"

    workflow_id = promotion_workflow_id(project, "staging", f"staging.auto.{freight['name'][:12]}")

    async def started() -> bool:
        return bool(await staging_promotions(client, project))

    await wait_for(started, timeout=40, message="the auto-promotion to staging to start" + setup.diagnostics())
    await assert_promoted_once(setup, client, workflow_id, verified_at, staging_before, "8.0.0")
    status = await Gantry(client, setup.task_queue).promotion_status(workflow_id)
    assert status.actor == "auto-promotion"


async def test_manual_wait_for_soak_survives_worker_and_server_restarts(setup: Setup) -> None:
    client = await connect_when_ready(setup.own.address)
    await ensure_search_attributes(client)
    worker = await start_and_wait_for_worker(setup, client)
    gantry = Gantry(client, setup.task_queue)
    project = setup.project
    # no ProjectConfig: auto-promotion is off, the manual promotion is the only one
    await apply_text(gantry, with_soak(pipeline_manifests(project, setup.repo.url), f"{int(SOAK.total_seconds())}s"))
    freight = await new_freight(gantry, project, "9.0.0")
    staging_before = staging_commits(setup.repo)
    dev = await asyncio.wait_for((await gantry.promote(project, "dev", freight["name"])).result(), 30)
    assert dev.phase == "Succeeded", dev
    verified_at = await verified_in_dev(gantry, project, freight["name"])
    soak_ends = time.monotonic() + (verified_at + SOAK - dev.finished_at).total_seconds()

    workflow_id = promotion_workflow_id(project, "staging", f"staging.manual.{freight['name'][:12]}")
    handle = await client.start_workflow(
        "PromotionWorkflow",
        PromotionRequest(project=project, stage="staging", freight=freight["name"], actor="tester", wait_for_soak=True),
        id=workflow_id,
        task_queue=setup.task_queue,
        result_type=PromotionStatus,
    )

    async def soaking() -> bool:  # it sleeps on its durable timer
        status = await handle.query("status", result_type=PromotionStatus)
        return "soaking in dev" in status.message

    await wait_for(soaking, timeout=10, message="the promotion to wait for the soak" + setup.diagnostics())
    assert time.monotonic() < soak_ends - 1, "too slow: the soak is nearly over before the restarts"

    client, times = await restart_everything(setup, worker)
    assert times["server_stop"] < soak_ends, "the server went down only after the soak ended: not a mid-soak restart"

    await assert_promoted_once(setup, client, workflow_id, verified_at, staging_before, "9.0.0")


async def test_warehouse_timer_survives_worker_and_server_restarts(setup: Setup, registry) -> None:  # noqa: F811
    """A Warehouse sleeping on its interval timer when the worker dies and the server
    restarts: its next pass still comes by itself, finds the tag pushed meanwhile, and
    makes that Freight once."""
    from tests.integration.test_warehouses import image_sub, push_tag, warehouse_doc
    from workflows.ids import warehouse_workflow_id
    from workflows.warehouse import WarehouseStatus

    client = await connect_when_ready(setup.own.address)
    await ensure_search_attributes(client)
    worker = await start_and_wait_for_worker(setup, client)
    gantry = Gantry(client, setup.task_queue)
    project = setup.project
    repository = f"public/{project}"
    push_tag(registry, repository, "1.0.0")
    await apply_text(gantry, f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n")
    await apply_text(gantry, warehouse_doc(project, image_sub(f"{registry.host}/{repository}"), "  interval: 4s\n"))

    async def freight_count(n: int) -> bool:
        return len(await gantry.freight(project)) == n

    await wait_for(lambda: freight_count(1), timeout=20, message="the first Freight" + setup.diagnostics())
    client, _ = await restart_everything(setup, worker)
    gantry = Gantry(client, setup.task_queue)
    push_tag(registry, repository, "1.1.0")
    # the worst case: the kill lands inside an activity of a pass (10 s heartbeat or
    # start-to-close timeout, 3 s on the dead worker's sticky queue), then a whole pass
    await wait_for(lambda: freight_count(2), timeout=45, message="the timer's pass after the restarts" + setup.diagnostics())
    tags = sorted(f["images"][0]["tag"] for f in await gantry.freight(project))
    assert tags == ["1.0.0", "1.1.0"]
    status = await client.get_workflow_handle(warehouse_workflow_id(project, "app")).query("status", result_type=WarehouseStatus)
    assert status.error == "" and status.failed_passes == 0, status
