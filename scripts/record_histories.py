#!/usr/bin/env python
"""Record the workflow histories that tests/unit/test_replay.py replays.

Starts its own Temporal dev server (free port, temporary SQLite), runs small real pipelines
on in-process workers (and, for the worker-lost case, worker subprocesses) against local
bare git repositories, and writes the complete history of every workflow run that took part,
closed or still running, as ``tests/fixtures/histories/<scenario>/<type>--<id>--<run>.json``
(``WorkflowHistory.to_json()``), with ``index.json`` (source commit, and per file the
workflow id, run id, type and status) and a generated ``README.md``.

Record from committed code, not a work tree others are editing:

    git worktree add /tmp/replay-src HEAD
    cp scripts/record_histories.py /tmp/replay-src/scripts/   # if the script is newer than HEAD
    cd /tmp/replay-src && PYTHONPATH=$PWD /path/to/.venv/bin/python scripts/record_histories.py \\
        --out /path/to/checkout/tests/fixtures/histories
    git worktree remove /tmp/replay-src

Every scenario is recorded unless named with ``--only``; a scenario whose server cannot start
here (the OCI registry) is skipped and says why. Re-record only to add scenarios or after a
deliberate, versioned change, never to make a failing replay pass (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The pipelines' git remotes are local bare repositories and their verifications local jobs:
# opt-in capabilities of a worker (docs/security.md), set before any Gantry module reads them.
os.environ["GANTRY_ALLOW_LOCAL_REPOS"] = "1"
os.environ["GANTRY_ALLOW_LOCAL_JOBS"] = "1"

import temporalio
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from client.api import Gantry
from client.devserver import DevServer, ensure_search_attributes, free_port
from client.settings import TemporalSettings
from client.worker import build_workers

DEFAULT_OUT = ROOT / "tests" / "fixtures" / "histories"
SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitise(workflow_id: str) -> str:
    return SAFE.sub("_", workflow_id).strip("_")


# -- the run of one scenario -----------------------------------------------------------


@dataclass
class Scenario:
    """What a scenario gets: a client, its own task queue (so its workflows are found by
    ``TaskQueue``), a temporary directory, and in-process workers once started."""

    name: str
    client: Client
    address: str
    tmp: Path
    task_queue: str = ""
    worker_id: str = ""
    workers: list = field(default_factory=list)
    tasks: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.task_queue = f"gantry-record-{self.name}"
        self.worker_id = f"record-{self.name}"

    @property
    def gantry(self) -> Gantry:
        return Gantry(self.client, self.task_queue)

    def handle(self):
        """A tests.conftest.WorkerHandle, for the test helpers that take one."""
        from tests.conftest import WorkerHandle

        return WorkerHandle(self.task_queue, self.worker_id, self.tmp / "work", self.gantry)

    async def start_workers(self) -> None:
        os.environ["GANTRY_WORK_DIR"] = str(self.tmp / "work")
        self.workers = build_workers(self.client, task_queue=self.task_queue, worker_id=self.worker_id)
        self.tasks = [asyncio.create_task(w.run()) for w in self.workers]

    async def stop_workers(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.workers), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        self.workers, self.tasks = [], []


class Skip(Exception):
    """A scenario that cannot run here (a server is missing); the message says why."""


async def wait_for(predicate: Callable[[], Awaitable[object] | object], *, timeout: float, message: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.2)


# -- scenarios -------------------------------------------------------------------------


async def scenario_promotion(s: Scenario) -> None:
    """(a) dev promoted by hand, staging by auto-promotion (no soak)."""
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_stages import AUTO_CONFIG, new_freight
    from tests.pipelines import make_gitops_repo, pipeline_manifests

    await s.start_workers()
    repo = make_gitops_repo(s.tmp / "remote")
    project = "rec-promotion"
    await apply_text(s.gantry, pipeline_manifests(project, repo.url) + AUTO_CONFIG.format(project=project))
    freight = await new_freight(s.gantry, project, "1.0.0")
    status = await asyncio.wait_for((await s.gantry.promote(project, "dev", freight["alias"], actor="recorder")).result(), 60)
    assert status.phase == "Succeeded", status
    await _wait_succeeded(s, project, "staging")


async def _wait_succeeded(s: Scenario, project: str, stage: str, timeout: float = 60) -> None:
    async def done() -> bool:
        rows = await s.gantry.promotions(project, stage)
        return any(r["phase"] == "Succeeded" and r["status"] == "completed" for r in rows)

    try:
        await wait_for(done, timeout=timeout, message=f"a promotion to {stage} in {project} to succeed")
    except TimeoutError as err:
        rows = [(r["name"], r["phase"], r["status"]) for r in await s.gantry.promotions(project)]
        raise TimeoutError(f"{err}; promotions: {rows}") from None


async def scenario_verification(s: Scenario) -> None:
    """(b) verifications: a local job that passes and one that fails (AnalysisRun Failed), and
    a web metric measured on timers that fails its failureLimit."""
    from tests.httpserver import ScriptedServer
    from tests.integration.test_verification import (
        BAD,
        ERROR_RATE,
        OK,
        PIPELINE,
        SMOKE,
        promote_and_verify,
        web_provider,
    )
    from tests.jobs import JOB_PYTHON

    await s.start_workers()
    worker = s.handle()
    for tag, phase in (("1.0.0", "Successful"), ("9.9.9", "Failed")):
        project = f"rec-job-{phase.lower()}"
        text = PIPELINE.format(project=project, refs="    - name: smoke-test") + SMOKE.format(
            project=project, python=JOB_PYTHON, good="1.0.0"
        )
        status, run, _ = await promote_and_verify(worker, project, text, tag=tag)
        assert status.phase == "Succeeded" and run.phase == phase, (status, run)

    project = "rec-web-failed"
    with ScriptedServer(script=[BAD, BAD, BAD], then=OK) as server:
        text = PIPELINE.format(project=project, refs="    - name: error-rate-check") + ERROR_RATE.format(
            project=project, provider=web_provider(server.url)
        )
        text = text.replace("    args:\n    - name: image-tag\n      value: ${{ imageFrom(\"my-registry/my-app\").Tag }}\n", "")
        status, run, _ = await promote_and_verify(worker, project, text)
    assert run.phase == "Failed", run


async def scenario_soak(s: Scenario) -> None:
    """(c) staging requires a 3 s soak in dev: the StageWorkflow's timer fires and auto-promotes."""
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_stages import AUTO_CONFIG, new_freight, with_soak
    from tests.pipelines import make_gitops_repo, pipeline_manifests

    await s.start_workers()
    repo = make_gitops_repo(s.tmp / "remote")
    project = "rec-soak"
    await apply_text(s.gantry, with_soak(pipeline_manifests(project, repo.url), "3s") + AUTO_CONFIG.format(project=project))
    freight = await new_freight(s.gantry, project, "4.0.0")
    status = await asyncio.wait_for((await s.gantry.promote(project, "dev", freight["name"])).result(), 60)
    assert status.phase == "Succeeded", status
    await _wait_succeeded(s, project, "staging")


def _git_source(path: Path) -> Path:
    from tests.gitrepos import source_repo

    return source_repo(path)


def _git_commit(path: Path, text: str) -> None:
    from tests.gitrepos import git

    (path / "README").write_text(text)
    git("commit", "-q", "-am", text.strip(), cwd=path)


async def scenario_warehouse(s: Scenario) -> None:
    """(d) a Warehouse subscribed to a local git repository: two refreshed passes, two Freight."""
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_warehouses import warehouse_doc

    await s.start_workers()
    repo = _git_source(s.tmp / "app-src")
    project = "rec-warehouse"
    await apply_text(s.gantry, f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n")
    await apply_text(s.gantry, warehouse_doc(project, f"  - git:\n      repoURL: file://{repo}\n      branch: main\n"))
    first = await s.gantry.refresh_warehouse(project, "app", wait=True)
    assert first is not None and first.error == "" and first.last_freight, first
    _git_commit(repo, "v2\n")
    second = await s.gantry.refresh_warehouse(project, "app", wait=True)
    assert second is not None and second.last_freight and second.last_freight != first.last_freight, second


async def scenario_quickstart(s: Scenario) -> None:
    """The quickstart's manifests (examples/quickstart/manifests) on a loopback registry: an
    image Warehouse, auto-promotion to dev with a local-job verification, a soak, staging."""
    from tests.integration.test_promotion import apply_text
    from tests.jobs import remove, shared_dir
    from tests.pipelines import make_gitops_repo
    from tests.registry import push_artifact, token_registry, token_registry_missing

    reason = token_registry_missing()
    if reason:
        raise Skip(reason)
    await s.start_workers()
    shared = shared_dir("gantry-record-quickstart-")  # the verification job may run as nobody
    repo = make_gitops_repo(shared)
    with token_registry() as registry:
        image = f"{registry.host}/public/guestbook"
        push_artifact(registry, "public/guestbook", "1.0.0", [(b"layer 1.0.0", "application/vnd.oci.image.layer.v1.tar")])
        text = "\n---\n".join(
            (ROOT / "examples" / "quickstart" / "manifests" / name).read_text() for name in ("project.yaml", "stages.yaml")
        )
        text = (
            text.replace("127.0.0.1:5001/guestbook", image)
            .replace("/tmp/gantry-quickstart/gitops.git", str(repo.bare))
            .replace("requiredSoakTime: 15s", "requiredSoakTime: 2s")
        )
        await apply_text(s.gantry, text, file="quickstart.yaml")
        status = await s.gantry.refresh_warehouse("quickstart", "guestbook", wait=True)
        assert status is not None and status.error == "" and status.last_freight, status
        try:
            await _wait_succeeded(s, "quickstart", "staging", timeout=90)
        finally:
            remove(shared)


async def scenario_can_project(s: Scenario) -> None:
    """(e) ProjectWorkflow with a tiny history limit continues as new while Freight is created."""
    from client.applying import plan_apply
    from client.manifests import LoadedManifests
    from activities.updates import retry_unprocessed
    from pipeline.manifests import parse_documents
    from tests.pipelines import pipeline_manifests
    from workflows.messages import ApplyRequest, ApplyResult, FreightCreate
    from workflows.project import ProjectInput

    await s.start_workers()
    project = "rec-can-project"
    workflow_id = f"project/{project}"
    start = WithStartWorkflowOperation(
        "ProjectWorkflow",
        ProjectInput(name=project, max_history=40),
        id=workflow_id,
        task_queue=s.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    documents = plan_apply(
        LoadedManifests(documents=parse_documents(pipeline_manifests(project, "file:///nowhere.git"), "p.yaml"))
    ).documents[project]
    await s.client.execute_update_with_start_workflow(
        "apply", ApplyRequest(documents=documents, default_project=project), start_workflow_operation=start, result_type=ApplyResult
    )
    handle = s.client.get_workflow_handle(workflow_id)
    runs = {(await handle.describe()).run_id}
    for i in range(200):
        freight = {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": f"1.0.{i}"}]}
        await retry_unprocessed(
            lambda f=freight: handle.execute_update("create_freight", FreightCreate(freight=f), result_type=dict)
        )
        runs.add((await handle.describe()).run_id)
        if len(runs) >= 3:
            break
    assert len(runs) >= 3, "the project never continued as new twice"


async def scenario_can_stage(s: Scenario) -> None:
    """(e) StageWorkflow with a tiny history limit continues as new between promotions."""
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_stages import new_freight
    from tests.pipelines import make_gitops_repo, pipeline_manifests
    from workflows.ids import stage_workflow_id
    from workflows.stage import StageInput

    await s.start_workers()
    repo = make_gitops_repo(s.tmp / "remote")
    project = "rec-can-stage"
    workflow_id = stage_workflow_id(project, "dev")
    await s.client.start_workflow(
        "StageWorkflow", StageInput(project=project, stage="dev", max_history=20), id=workflow_id, task_queue=s.task_queue
    )
    first_run = (await s.client.get_workflow_handle(workflow_id).describe()).run_id
    await apply_text(s.gantry, pipeline_manifests(project, repo.url))
    for i in range(6):
        freight = await new_freight(s.gantry, project, f"2.0.{i}")
        status = await asyncio.wait_for((await s.gantry.promote(project, "dev", freight["name"])).result(), 60)
        assert status.phase == "Succeeded", status
        if i >= 2 and (await s.client.get_workflow_handle(workflow_id).describe()).run_id != first_run:
            break
    assert (await s.client.get_workflow_handle(workflow_id).describe()).run_id != first_run, "the stage never continued as new"


async def scenario_can_warehouse(s: Scenario) -> None:
    """(e) WarehouseWorkflow with a tiny history limit and a 1 s interval continues as new."""
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_warehouses import warehouse_doc
    from workflows.ids import warehouse_workflow_id
    from workflows.warehouse import WarehouseInput, WarehouseStatus

    await s.start_workers()
    repo = _git_source(s.tmp / "app-src")
    project = "rec-can-warehouse"
    workflow_id = warehouse_workflow_id(project, "app")
    await apply_text(s.gantry, f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n")
    await s.client.start_workflow(
        "WarehouseWorkflow", WarehouseInput(project=project, warehouse="app", max_history=40), id=workflow_id, task_queue=s.task_queue
    )
    handle = s.client.get_workflow_handle(workflow_id)
    first_run = (await handle.describe()).run_id
    await apply_text(
        s.gantry, warehouse_doc(project, f"  - git:\n      repoURL: file://{repo}\n      branch: main\n", "  interval: 1s\n")
    )

    async def continued() -> bool:
        return (await handle.describe()).run_id != first_run

    await wait_for(continued, timeout=60, message="the warehouse to continue as new")
    _git_commit(repo, "v2\n")

    async def two_freight() -> bool:
        status = await handle.query("status", result_type=WarehouseStatus)
        return len(await s.gantry.freight(project)) == 2 and status.error == ""

    await wait_for(two_freight, timeout=30, message="the next pass to make Freight of the new commit")


async def scenario_abort(s: Scenario) -> None:
    """(f) a promotion aborted (Gantry.abort_promotion, as `gantry promote --abort`) while a step polls."""
    from tests.httpserver import ScriptedServer
    from tests.integration.test_step_semantics import http_step, ok, result, start

    await s.start_workers()
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        step = http_step("forever", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s")
        handle, _, _ = await start(s.handle(), "abort", [ok("before"), step, ok("after", **{"if": "${{ always() }}"})])
        await wait_for(lambda: server.count >= 2, timeout=30, message="the http step to poll twice")
        await s.gantry.abort_promotion(handle.id, "aborted by the recorder")
        status = await result(handle)
    assert status.phase == "Aborted", status


async def scenario_worker_lost(s: Scenario) -> None:
    """(g) the worker running a promotion's git-push is SIGKILLed and never comes back; a
    worker with another id (another disk) takes the promotion over (worker subprocesses)."""
    from tests.integration.test_worker_crash import start_promotion
    from tests.pipelines import make_gitops_repo
    from tests.workerproc import Gate, WorkerPool, write_hook

    repo = make_gitops_repo(s.tmp / "remote")
    gate = Gate(block=s.tmp / "block", entered=s.tmp / "entered")
    write_hook(repo.bare / "hooks" / "pre-receive", gate)
    pool = WorkerPool(s.address, s.task_queue, s.tmp)
    try:
        gate.close()
        worker = pool.start("host-a")
        handle = await start_promotion(s.client, s.task_queue, repo, "worker-lost")
        await wait_for(gate.entered.exists, timeout=60, message="git-push to reach the remote's hook")
        worker.kill_group()
        gate.open()
        pool.start("host-b")
        status = await asyncio.wait_for(handle.result(), 120)
        assert status.phase == "Succeeded" and status.restarts == 1, status
        await asyncio.sleep(1.0)
    finally:
        pool.stop_all()
        gate.open()


async def scenario_freight(s: Scenario) -> None:
    """(h) Freight as workflows: created through the API and the project's update, an alias
    moved (its claim released), approved, promoted (the promotion records it), one collected,
    and a project's catalog of old moved into FreightWorkflows."""
    from datetime import timezone

    from pipeline.freight import FreightCatalog
    from tests.integration.test_promotion import apply_text
    from tests.pipelines import make_gitops_repo, pipeline_manifests, start_project_with_state
    from workflows.messages import FreightCreate
    from workflows.project import ProjectState

    await s.start_workers()
    gantry = s.gantry
    project = "rec-freight"
    repo = make_gitops_repo(s.tmp / "remote")
    await apply_text(gantry, pipeline_manifests(project, repo.url))
    image = lambda tag: {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": tag}]}  # noqa: E731
    first = await gantry.create_freight(project, image("1.0.0"))
    await gantry.set_freight_alias(project, first["name"], "first-release")
    await gantry.approve(project, "staging", first["name"], "alice")
    handle = s.client.get_workflow_handle(f"project/{project}")
    second = await handle.execute_update("create_freight", FreightCreate(freight=image("2.0.0")), result_type=dict)
    promotion = await gantry.promote(project, "dev", first["name"])
    assert (await promotion.result()).phase == "Succeeded"
    promotion = await gantry.promote(project, "dev", second["name"])
    assert (await promotion.result()).phase == "Succeeded"
    third = await gantry.create_freight(project, image("3.0.0"))
    await gantry.store.collect(project, third["name"])

    old = "rec-freight-old"
    catalog = FreightCatalog()
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for i in range(3):
        catalog.add({**image(f"0.{i}.0"), "discoveredAt": f"2026-11-0{i + 1}T00:00:00+00:00"}, now)
    await start_project_with_state(s.client, s.task_queue, old, "file:///nowhere.git", ProjectState(catalog=catalog))
    old_handle = s.client.get_workflow_handle(f"project/{old}")

    async def moved() -> bool:
        return await old_handle.query("freight") == []

    await wait_for(moved, timeout=30, message="the catalog of old to move out")


async def scenario_fan_out(s: Scenario) -> None:
    """(i) One Freight promoted to five Stages at once: each promotion records entered and
    verified on it by the `record` signal (patch gantry-freight-record-signal)."""
    from tests.integration.test_freight_workflows import fan_out_manifests, image
    from tests.integration.test_promotion import apply_text

    await s.start_workers()
    project = "rec-fan-out"
    await apply_text(s.gantry, fan_out_manifests(project, 5))
    freight = await s.gantry.create_freight(project, image("1.0.0"))
    stages = [f"region-{i:02d}" for i in range(5)]
    handles = await asyncio.gather(*(s.gantry.promote(project, stage, freight["name"]) for stage in stages))
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    assert [r.phase for r in results] == ["Succeeded"] * 5, results


async def scenario_seed(s: Scenario) -> None:
    """The seed pipeline (examples/seed-pipeline): auto-promotion to dev and staging, a local
    job and Prometheus error-rate checks, a soak, prod by hand; needs `prometheus` installed."""
    from tests.integration.test_seed_pipeline import run_seed_pipeline
    from tests.prometheus import prometheus_binary, running_prometheus

    if prometheus_binary() is None:
        raise Skip("Prometheus is not installed (apt-get install prometheus)")
    await s.start_workers()
    (s.tmp / "prometheus").mkdir()
    with running_prometheus(s.tmp / "prometheus") as prometheus:
        await run_seed_pipeline(s.handle(), prometheus, s.tmp, "rec-seed")


async def scenario_outcomes(s: Scenario) -> None:
    """(j) How ends show in Temporal (patches gantry-promotion-outcome and
    gantry-verification-outcome): a promotion whose step fails (its workflow Failed), one whose
    Stage does not exist (Errored), one cancelled while a step polls (Canceled, the rest Skipped),
    one cancelled while its verification runs (the verification Canceled),
    a verification that fails (its workflow Failed), a bad input (BadInput), and a Stage
    workflow for a Stage that is not applied told to retire."""
    from temporalio.client import WorkflowExecutionStatus

    from activities.garbage import GarbageActivities
    from pipeline.manifests import ManifestSet
    from tests.httpserver import ScriptedServer
    from tests.integration.test_promotion import apply_text, setup_project
    from tests.integration.test_verification import ERROR_RATE, OK, PIPELINE, new_freight_of, web_provider
    from workflows.messages import PromotionRequest
    from workflows.stage import signal_stage

    await s.start_workers()
    worker = s.handle()
    _, project, freight = await setup_project(worker, s.tmp, "outcomes")
    other = await s.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/other", "tag": "9"}]}
    )
    failed = await (await s.gantry.promote(project, "dev", other["name"])).result()
    assert failed.phase == "Failed", failed
    errored = await s.client.start_workflow(
        "PromotionWorkflow", PromotionRequest(project=project, stage="qa", freight=freight["name"]),
        id=f"promotion/{project}/qa/unknown-stage", task_queue=s.task_queue,
    )  # fmt: skip
    assert (await s.gantry.promotion_result(errored.id)).phase == "Errored"
    bad = await s.client.start_workflow(
        "PromotionWorkflow", {"project": project, "stgae": "dev", "freight": "x"},
        id=f"promotion/{project}/dev/bad-input", task_queue=s.task_queue,
    )  # fmt: skip
    await wait_for(
        lambda: _status_is(bad, WorkflowExecutionStatus.FAILED), timeout=30, message="the bad input to fail"
    )
    await signal_stage(s.client, s.task_queue, project, "qa", "release", "nobody")
    manifests = ManifestSet.model_validate(await s.gantry.manifests(project))
    await wait_for(
        lambda: GarbageActivities(s.client, s.task_queue)._retire_unknown_stages(project, manifests),
        timeout=30, message="the qa Stage workflow to be listed and retired",
    )  # fmt: skip

    from tests.integration.test_step_semantics import http_step, ok, start

    with ScriptedServer([], then=(200, {"ready": False})) as server:
        step = http_step("forever", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s")
        handle, _, _ = await start(s.handle(), "outcomes-cancel", [ok("before"), step, ok("after")])
        await wait_for(lambda: server.count >= 2, timeout=30, message="the http step to poll twice")
        await s.gantry.abort_promotion(handle.id, "cancelled by the recorder")
        cancelled = await s.gantry.promotion_result(handle.id)
    assert cancelled.phase == "Aborted" and [x.status for x in cancelled.steps] == ["Succeeded", "Aborted", "Skipped"]

    verifying = "rec-outcomes-verify"
    slow = ERROR_RATE.replace("count: 5", "count: 100")
    with ScriptedServer(script=[], then=OK) as server:
        text = PIPELINE.format(project=verifying, refs="    - name: error-rate-check") + slow.format(
            project=verifying, provider=web_provider(server.url)
        )
        text = text.replace("    args:\n    - name: image-tag\n      value: ${{ imageFrom(\"my-registry/my-app\").Tag }}\n", "")
        await apply_text(s.gantry, text)
        f = await new_freight_of(worker, verifying, "1.0.0")
        handle = await s.gantry.promote(verifying, "uat", f["name"])
        await wait_for(lambda: server.count >= 2, timeout=30, message="the verification to measure twice")
        await s.gantry.abort_promotion(handle.id, "aborted by the recorder")
        aborted = await handle.result()
    # its steps ran: the promotion stays Succeeded, the Freight in the Stage but not verified
    assert aborted.phase == "Succeeded" and aborted.verification.startswith("Failed: aborted"), aborted

    failing = "rec-outcomes-fail"
    with ScriptedServer(script=[], then=(200, {"values": [0.5]})) as server:
        text = PIPELINE.format(project=failing, refs="    - name: error-rate-check") + ERROR_RATE.format(
            project=failing, provider=web_provider(server.url)
        )
        text = text.replace("    args:\n    - name: image-tag\n      value: ${{ imageFrom(\"my-registry/my-app\").Tag }}\n", "")
        await apply_text(s.gantry, text)
        f = await new_freight_of(worker, failing, "1.0.0")
        status = await (await s.gantry.promote(failing, "uat", f["name"])).result()
    assert status.phase == "Succeeded" and status.verification.startswith("Failed"), status


async def scenario_pull_request(s: Scenario) -> None:
    """(k) prod through a pull request on the GitHub fake: git-open-pr, git-wait-for-pr
    polling on durable timers (one poll rate-limited: a longer wait), a reviewer merges."""
    from tests.fakes.github import GitHubFake
    from tests.integration.test_pr_promotions import REPO, TOKEN, to_prod, waiting_for_review
    from tests.pipelines import make_gitops_repo

    await s.start_workers()
    source = make_gitops_repo(s.tmp / "seed")
    with GitHubFake(s.tmp / "github", token=TOKEN) as fake:
        fake.add_repo(REPO, source.bare)
        os.environ.update({"GANTRY_GIT_CREDENTIALS_PR_URL": fake.base_url + "/", "GANTRY_GIT_CREDENTIALS_PR_PASSWORD": TOKEN})
        _, handle = await to_prod(s.gantry, fake, "rec")
        await waiting_for_review(s.gantry, handle.id)
        fake.rate_limit_wait = 2
        fake.rate_limit(1)
        await asyncio.sleep(3)  # a recorder, not a test: let one rate-limited poll happen
        [pr] = fake.prs(REPO)
        fake.merge(REPO, pr.number)
        status = await s.gantry.promotion_result(handle.id)
    assert status.phase == "Succeeded", status


async def scenario_delete(s: Scenario) -> None:
    """(l) Deleting (patch gantry-stage-retires-when-idle): a busy Stage told to retire serves its
    promotion until `gantry delete --force` aborts it, then ends; `apply --prune` drops a Stage
    (the Freight approved for it forgets it) and a Warehouse (whose loop ends); `gantry delete
    project` ends its Warehouse, Stages, Freight and the ProjectWorkflow."""
    from client.applying import plan_apply
    from client.deleting import delete
    from client.manifests import LoadedManifests
    from pipeline.deletion import ObjectRef
    from pipeline.manifests import parse_documents
    from temporalio.client import WorkflowExecutionStatus
    from tests.httpserver import ScriptedServer
    from tests.integration.test_delete import HANGING_STAGE, SPARE_WAREHOUSE
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_stages import new_freight
    from tests.pipelines import make_gitops_repo, pipeline_manifests
    from workflows.ids import project_workflow_id, stage_workflow_id, warehouse_workflow_id

    await s.start_workers()
    repo = make_gitops_repo(s.tmp / "remote")
    project = "rec-delete"
    full = pipeline_manifests(project, repo.url) + SPARE_WAREHOUSE.format(project=project)
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        qa = HANGING_STAGE.format(project=project, url=server.url).split("---\n", 1)[1].replace("name: dev,", "name: qa,")
        await apply_text(s.gantry, full + "---\n" + qa)
        freight = await new_freight(s.gantry, project, "1.0.0")
        status = await asyncio.wait_for((await s.gantry.promote(project, "dev", freight["alias"])).result(), 60)
        assert status.phase == "Succeeded", status
        hanging = await s.gantry.promote(project, "qa", freight["alias"])

        async def holds() -> bool:
            lock = await s.gantry.stage_lock(project, "qa")
            return lock is not None and lock.holder == hanging.id

        await wait_for(holds, timeout=30, message="the qa promotion to hold the lock")
        await s.client.get_workflow_handle(stage_workflow_id(project, "qa")).signal("retire", "the recorder retires qa")
        await delete(s.gantry, {project: [ObjectRef(kind="Stage", name="qa")]}, force=True)
        qa_stage = s.client.get_workflow_handle(stage_workflow_id(project, "qa"))
        await wait_for(lambda: _status_is(qa_stage, WorkflowExecutionStatus.COMPLETED), timeout=30, message="qa to end")
    await s.gantry.approve(project, "staging", freight["alias"], "recorder")  # the Freight forgets it when it goes
    dropped = full.split("---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: staging")[0]
    plan = plan_apply(LoadedManifests(documents=parse_documents(dropped, "p.yaml")))
    await s.gantry.apply(plan.documents, prune=True)
    spare = s.client.get_workflow_handle(warehouse_workflow_id(project, "spare"))
    await wait_for(lambda: _status_is(spare, WorkflowExecutionStatus.COMPLETED), timeout=30, message="spare to end")
    await delete(s.gantry, {project: [ObjectRef(kind="Project", name=project)]})
    for workflow_id in (project_workflow_id(project), warehouse_workflow_id(project, "app"), stage_workflow_id(project, "dev")):
        handle = s.client.get_workflow_handle(workflow_id)
        await wait_for(lambda: _status_is(handle, WorkflowExecutionStatus.COMPLETED), timeout=30, message=f"{workflow_id} to end")


async def scenario_match_upstream(s: Scenario) -> None:
    """(m) MatchUpstream (patch gantry-match-upstream): staging follows dev to A, to B, and back
    to A, which it auto-promoted before (a second offer of the same Freight, taken)."""
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_stages import AUTO_CONFIG, new_freight
    from tests.pipelines import make_gitops_repo, pipeline_manifests

    await s.start_workers()
    repo = make_gitops_repo(s.tmp / "remote")
    project = "rec-match-upstream"
    manifests = pipeline_manifests(project, repo.url).replace(
        "      stages: [dev]", "      stages: [dev]\n      autoPromotionOptions: {selectionPolicy: MatchUpstream}"
    )
    await apply_text(s.gantry, manifests + AUTO_CONFIG.format(project=project))
    first, second = await new_freight(s.gantry, project, "5.0.0"), await new_freight(s.gantry, project, "5.1.0")

    async def staging_has(name: str) -> bool:
        return {v.name: v.freight for v in await s.gantry.stages(project)}.get("staging") == name

    for freight in (first, second, first):
        status = await asyncio.wait_for((await s.gantry.promote(project, "dev", freight["name"])).result(), 60)
        assert status.phase == "Succeeded", status
        await wait_for(lambda f=freight: staging_has(f["name"]), timeout=60, message=f"staging to follow dev to {freight['alias']}")


async def scenario_grant_race(s: Scenario) -> None:
    """(n) A release racing its grant (patch gantry-stage-grant-race): a holder asks for dev's
    lock and gives it back while the grant's signal is on the way, until the Stage's history
    shows the race once; then another holder is granted the free lock."""
    from datetime import datetime, timedelta, timezone

    from workflows.ids import stage_workflow_id
    from workflows.messages import LockRequest, StageLockView
    from workflows.stage import StageInput

    await s.start_workers()
    project = "rec-grant-race"
    hour = timedelta(hours=1)
    handles = {}
    for stage in ("holder-a", "holder-b", "dev"):
        handles[stage] = await s.client.start_workflow(
            "StageWorkflow", StageInput(project=project, stage=stage, holder_check_interval=hour),
            id=stage_workflow_id(project, stage), task_queue=s.task_queue,
        )  # fmt: skip
    lock, now = handles["dev"], datetime.now(timezone.utc)

    async def raced() -> bool:
        events = [e async for e in lock.fetch_history_events()]
        return any(e.marker_recorded_event_attributes.marker_name == "core_patch" for e in events)

    for i in range(200):
        await lock.signal("acquire", LockRequest(promotion=handles["holder-a"].id, requested_at=now))
        await asyncio.sleep((i % 5) * 0.004)
        await lock.signal("release", handles["holder-a"].id)
        if await raced():
            break
    else:
        raise AssertionError("no release raced its grant in 200 rounds")
    await lock.signal("acquire", LockRequest(promotion=handles["holder-b"].id, requested_at=now))

    async def granted() -> bool:
        if (await lock.query("lock", result_type=StageLockView)).holder != handles["holder-b"].id:
            return False
        events = [e async for e in handles["holder-b"].fetch_history_events()]
        return any(e.workflow_execution_signaled_event_attributes.signal_name == "lock_granted" for e in events)

    await wait_for(granted, timeout=30, message="holder-b to be granted the lock")


async def scenario_concurrent_calls(s: Scenario) -> None:
    """(o) Concurrent round trips (patch gantry-promotion-concurrent-calls): a promotion asks for the lock
    and claims a worker while its context loads; one of Freight not yet available gives both
    back; one waiting behind a busy Stage is aborted before its steps (its early claim cleaned
    up); a dry run claims but takes no lock."""
    await _promotion_variants(s, "rec-concurrent")


async def scenario_local_calls(s: Scenario) -> None:
    """(p) Local activities (patch gantry-promotion-local-calls): the promotions of (o), whose context,
    lock request, worker claim and Freight record are local activities (markers)."""
    await _promotion_variants(s, "rec-local")


async def scenario_lock_in_answer(s: Scenario) -> None:
    """(q) The lock in the answer (patch gantry-promotion-lock-in-answer): the promotions of (o); a
    free Stage answers the lock request with the lock, a busy one grants it by signal later."""
    await _promotion_variants(s, "rec-answer")


async def scenario_warehouse_wake(s: Scenario) -> None:
    """(r) A wake during the read (patch gantry-warehouse-wake-during-load): a WarehouseWorkflow
    for a Warehouse not applied is woken while its first pass reads, until one run shows it
    read again before ending."""
    from workflows.ids import warehouse_workflow_id
    from workflows.warehouse import WarehouseInput

    await s.start_workers()
    project = "rec-wake"
    for i in range(100):
        handle = await s.client.start_workflow(
            "WarehouseWorkflow", WarehouseInput(project=project, warehouse=f"ghost-{i}"),
            id=warehouse_workflow_id(project, f"ghost-{i}"), task_queue=s.task_queue,
        )  # fmt: skip
        await asyncio.sleep((i % 5) * 0.003)
        try:
            await handle.signal("wake")
        except Exception:  # it ended already: that round missed the read
            pass
        await handle.result()
        events = [e async for e in handle.fetch_history_events()]
        if any(e.marker_recorded_event_attributes.marker_name == "core_patch" for e in events):
            return
    raise AssertionError("no wake landed during a read in 100 rounds")


async def _promotion_variants(s: Scenario, project: str) -> None:
    """A promotion by hand, one of Freight not yet available, a dry run, and two aborted (one
    holding the lock, one waiting for it)."""
    from tests.httpserver import ScriptedServer
    from tests.integration.test_delete import HANGING_STAGE
    from tests.integration.test_promotion import apply_text
    from tests.integration.test_stages import new_freight
    from tests.pipelines import make_gitops_repo, pipeline_manifests

    await s.start_workers()
    repo = make_gitops_repo(s.tmp / "remote")
    await apply_text(s.gantry, pipeline_manifests(project, repo.url))
    freight = await new_freight(s.gantry, project, "1.0.0")
    status = await asyncio.wait_for((await s.gantry.promote(project, "dev", freight["alias"])).result(), 60)
    assert status.phase == "Succeeded", status
    later = await new_freight(s.gantry, project, "1.1.0")
    status = await asyncio.wait_for((await s.gantry.promote(project, "staging", later["alias"], check=False)).result(), 60)
    assert status.phase == "Failed", status  # not verified in dev
    status = await asyncio.wait_for((await s.gantry.promote(project, "dev", later["alias"], dry_run=True)).result(), 60)
    assert status.phase == "Succeeded", status
    hanging_project = f"{project}-busy"
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        await apply_text(s.gantry, HANGING_STAGE.format(project=hanging_project, url=server.url))
        first = await new_freight(s.gantry, hanging_project, "1.0.0")
        second = await new_freight(s.gantry, hanging_project, "2.0.0")
        busy = await s.gantry.promote(hanging_project, "dev", first["name"])
        waiting = await s.gantry.promote(hanging_project, "dev", second["name"])

        async def queued() -> bool:
            lock = await s.gantry.stage_lock(hanging_project, "dev")
            return lock is not None and lock.holder == busy.id and waiting.id in lock.queue

        await wait_for(queued, timeout=30, message="the second promotion to wait for the lock")
        for handle in (waiting, busy):
            await s.gantry.abort_promotion(handle.id, "aborted by the recorder")
            assert (await asyncio.wait_for(handle.result(), 60)).phase == "Aborted"


async def _status_is(handle, status) -> bool:
    return (await handle.describe()).status == status


SCENARIOS: dict[str, Callable[[Scenario], Awaitable[None]]] = {
    "promotion": scenario_promotion,
    "verification": scenario_verification,
    "soak": scenario_soak,
    "warehouse": scenario_warehouse,
    "quickstart": scenario_quickstart,
    "can_project": scenario_can_project,
    "can_stage": scenario_can_stage,
    "can_warehouse": scenario_can_warehouse,
    "abort": scenario_abort,
    "worker_lost": scenario_worker_lost,
    "freight": scenario_freight,
    "seed": scenario_seed,
    "fan_out": scenario_fan_out,
    "outcomes": scenario_outcomes,
    "pull_request": scenario_pull_request,
    "delete": scenario_delete,
    "match_upstream": scenario_match_upstream,
    "grant_race": scenario_grant_race,
    "concurrent_calls": scenario_concurrent_calls,
    "local_calls": scenario_local_calls,
    "lock_in_answer": scenario_lock_in_answer,
    "warehouse_wake": scenario_warehouse_wake,
}


# -- fetching and writing histories ----------------------------------------------------


async def executions(client: Client, task_queue: str) -> list:
    """Every run (closed and running) on the scenario's task queue, once visibility settled."""
    query = f"TaskQueue = '{task_queue}'"
    previous: list[tuple[str, str, str]] | None = None
    for _ in range(50):
        found = [e async for e in client.list_workflows(query)]
        key = sorted((e.id, e.run_id, e.status.name if e.status else "") for e in found)
        if key == previous:
            return found
        previous = key
        await asyncio.sleep(0.5)
    return found


async def write_histories(client: Client, scenario: str, task_queue: str, out: Path) -> list[dict]:
    directory = out / scenario
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rows = []
    for execution in await executions(client, task_queue):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        name = f"{execution.workflow_type}--{sanitise(execution.id)}--{execution.run_id[:8]}.json"
        (directory / name).write_text(history.to_json())
        rows.append(
            {
                "file": f"{scenario}/{name}",
                "workflow_type": execution.workflow_type,
                "workflow_id": execution.id,
                "run_id": execution.run_id,
                "status": execution.status.name.lower() if execution.status else "unknown",
                "events": len(history.events),
            }
        )
    rows.sort(key=lambda r: r["file"])
    return rows


def source_commit() -> tuple[str, bool]:
    """The commit the recording ran from, and whether the workflow code differs from it."""
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "workflows", "pipeline", "activities", "client"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return sha, bool(dirty)


README = """# Recorded workflow histories

Replayed by `tests/unit/test_replay.py` against the current workflow code (no server needed).
Recorded by `scripts/record_histories.py`, last from commit `{commit}` ({when}, temporalio {sdk});
a scenario recorded from another commit says so in `index.json` (`scenarios.<name>.commit`),
which also names each file's workflow id, run id, type and status at the time.

A change to workflow code must replay every history here, or be gated with `workflow.patched`.
Re-record only to add scenarios, never to make a failing replay pass (docs/architecture.md,
"Replay tests").

| scenario | histories | what ran |
|---|---|---|
{rows}
"""


def write_index(out: Path, commit: str, dirty: bool, results: dict[str, dict], rows: list[dict]) -> None:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    index = {
        "source_commit": commit,
        "source_dirty": dirty,
        "recorded_at": when,
        "temporalio": temporalio.__version__,
        "scenarios": results,
        "histories": rows,
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    table = []
    for name, result in results.items():
        count = sum(1 for r in rows if r["file"].startswith(name + "/"))
        what = result.get("doc", "")
        if result["status"] != "recorded":
            what = f"**{result['status']}**: {result.get('reason', '')}"
        table.append(f"| {name} | {count} | {what} |")
    (out / "README.md").write_text(
        README.format(commit=commit + (" plus uncommitted changes" if dirty else ""), when=when,
                      sdk=temporalio.__version__, rows="\n".join(table))
    )  # fmt: skip


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the histories go (default: %(default)s)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="record only these scenarios")
    parser.add_argument("--allow-dirty", action="store_true", help="record even if workflow code has uncommitted changes")
    args = parser.parse_args()

    import workflows

    print(f"workflow code from {Path(workflows.__file__).parent}", flush=True)
    commit, dirty = source_commit()
    if dirty and not args.allow_dirty:
        print(f"{ROOT} has uncommitted changes to workflow code: record from a clean checkout (see --help)", file=sys.stderr)
        return 2
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / "index.json").read_text()) if (out / "index.json").exists() else {}
    names = args.only or list(SCENARIOS)
    # a scenario that is skipped or fails here keeps its earlier recording (files and rows)
    results: dict[str, dict] = dict(previous.get("scenarios", {}))
    for kept in results.values():  # recordings kept from an earlier run name their commit
        kept.setdefault("commit", previous.get("source_commit", "") + ("+dirty" if previous.get("source_dirty") else ""))
    rows = list(previous.get("histories", []))

    tmp_root = Path(tempfile.mkdtemp(prefix="gantry-record-"))
    server = DevServer(db_file=tmp_root / "temporal.db", port=free_port(), ui_port=None, log_file=tmp_root / "server.log").start()
    failed = False
    try:
        client = await TemporalSettings(address=server.address, namespace="default").connect_when_ready()
        await ensure_search_attributes(client)
        for name in names:
            scenario = Scenario(name, client, server.address, tmp_root / name)
            scenario.tmp.mkdir()
            doc = (SCENARIOS[name].__doc__ or "").split("\n\n")[0].replace("\n", " ").replace("    ", "").strip()
            started = time.monotonic()
            try:
                await SCENARIOS[name](scenario)
                await asyncio.sleep(1.0)  # let the last workflow tasks settle before reading
                written = await write_histories(client, name, scenario.task_queue, out)
                rows = [r for r in rows if r["file"].split("/")[0] != name] + written
                results[name] = {"status": "recorded", "doc": doc, "commit": commit + ("+dirty" if dirty else "")}
                size = sum((out / r["file"]).stat().st_size for r in written)
                print(f"{name}: {len(written)} histories, {size / 1024:.0f} KB, {time.monotonic() - started:.1f} s", flush=True)
            except Skip as why:
                kept = " (its earlier recording is kept)" if results.get(name, {}).get("status") == "recorded" else ""
                results[name] = {"status": "skipped", "reason": str(why) + kept, "doc": doc}
                print(f"{name}: skipped: {why}{kept}", flush=True)
            except Exception as err:  # noqa: BLE001  (reported, and the next scenario still runs)
                failed = True
                kept = " (its earlier recording is kept)" if results.get(name, {}).get("status") == "recorded" else ""
                results[name] = {"status": "failed", "reason": f"{type(err).__name__}: {err}{kept}", "doc": doc}
                print(f"{name}: FAILED: {type(err).__name__}: {err}{kept}", file=sys.stderr, flush=True)
            finally:
                await scenario.stop_workers()
    finally:
        server.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)
    rows.sort(key=lambda r: r["file"])
    write_index(out, commit, dirty, {k: results[k] for k in sorted(results)}, rows)
    total = sum((out / r["file"]).stat().st_size for r in rows)
    print(f"{len(rows)} histories, {total / 1024:.0f} KB in {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
