"""Upgrading a worker with work in flight: runs started by the PREVIOUS code finish under the
current code.

The previous code is the worker code of the commit the replay histories were recorded from,
checked in as a tarball by scripts/snapshot_previous.py (tests/fixtures/previous/): CI's
clone may be shallow, so it cannot come from git history (docs/architecture.md,
"Versioning workflow code").

On the session's dev server, a worker process runs the previous code (this venv's python,
PYTHONPATH at the extracted snapshot). A pipeline: Warehouses `app` (images) and `src` (a
local git repository); dev -> staging with a soak and auto-promotion; `qa` (direct) with a
web-metric verification measured every 2 s. With that worker:
  - Freight A is promoted to dev and verified there: staging's soak timer is running;
  - Freight B is promoted to qa: its verification has taken some measurements;
  - the Warehouse `src` has made its first Freight.
Then the worker is stopped (SIGTERM, as a deployment does) and a worker of the current code
starts in its place (same worker id and work directory). It must carry every run on:
  - the soak ends and A is auto-promoted to staging, not before the soak's end;
  - B's verification goes on from where it was and ends with the verdict its measurements
    give (one failure before the upgrade, one after: past failureLimit 1, so Failed), no
    measurement taken twice; the promotion succeeded, B is in qa, not verified there;
  - both Stages' locks are free, and nothing else was promoted;
  - the Warehouse run started by the old code makes the next Freight;
  - no workflow task failed (a nondeterminism error would), and each run taken over really
    was worked on by both workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from client.api import Gantry
from tests.gitrepos import git
from tests.httpserver import ScriptedServer
from tests.integration.test_stages import AUTO_CONFIG, with_soak
from tests.integration.test_warehouses import warehouse_doc
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.workerproc import REPO_ROOT, WorkerProcess
from workflows.ids import (
    project_workflow_id,
    promotion_workflow_id,
    stage_workflow_id,
    verification_workflow_id,
    warehouse_workflow_id,
)
from workflows.messages import PromotionStatus, StageLockView
from workflows.verification import VerificationStatus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PREVIOUS = REPO_ROOT / "tests" / "fixtures" / "previous"
SOAK = timedelta(seconds=15)
BAD, OK = (200, {"values": [0.2]}), (200, {"values": [0.01]})
# measured every 2 s; failureLimit 1: the 4th measurement (the 2nd failure) ends it Failed
SCRIPT = [BAD, OK, OK, BAD, OK, OK]
EXPECTED = ["Failed", "Successful", "Successful", "Failed"]

QA = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: qa, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        config: {{deployed: "yes"}}
  verification:
    analysisTemplates:
    - name: error-rate
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: error-rate, namespace: {project}}}
spec:
  metrics:
  - name: error-rate
    interval: 2s
    count: 6
    successCondition: result[0] < 0.05
    failureLimit: 1
    provider:
      web:
        url: {url}/rate
        jsonPath: "{{$.values}}"
"""


# -- the previous code -----------------------------------------------------------------


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def extract_previous(into: Path) -> tuple[Path, str]:
    """The checked-in snapshot, extracted and checked file by file against its index."""
    index = json.loads((PREVIOUS / "index.json").read_text())
    with tarfile.open(PREVIOUS / index["archive"]) as tar:
        tar.extractall(into, filter="data")
    found = {str(p.relative_to(into)): git_blob_id(p.read_bytes()) for p in into.rglob("*") if p.is_file()}
    assert found == index["files"], "the snapshot differs from its index.json: run scripts/snapshot_previous.py"
    return into, index["commit"]


def worker(root: Path, address: str, task_queue: str, worker_id: str, tmp: Path, name: str) -> WorkerProcess:
    # PYTHONPATH first: the venv's editable install of this checkout comes after it
    return WorkerProcess(
        address, task_queue, worker_id, tmp / "work", tmp / f"worker-{name}.log", env={"PYTHONPATH": str(root)}, root=root
    )


async def run_previous_client(previous: Path, spec: dict, diagnostics) -> dict:
    """tests/upgrade_previous.py with the previous code (run from the snapshot's directory,
    so nothing of this checkout is on its path); its JSON answer."""
    script = previous / "upgrade_previous.py"
    shutil.copy(REPO_ROOT / "tests" / "upgrade_previous.py", script)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), json.dumps(spec), cwd=previous, env={**os.environ, "PYTHONPATH": str(previous)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 45)
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"the previous client did not finish in 45 s{diagnostics()}") from None
    assert proc.returncode == 0, f"the previous client failed:\n{err.decode(errors='replace')[-3000:]}{diagnostics()}"
    return json.loads(out.decode().strip().splitlines()[-1])


# -- conditions ------------------------------------------------------------------------


async def polled_by(client: Client, task_queue: str, proc: WorkerProcess) -> bool:
    """True once this worker process (by its identity, pid@host) polls the queue."""
    assert proc.proc is not None
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=task_queue), task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        )
    )
    return any(p.identity.startswith(f"{proc.proc.pid}@") for p in answer.pollers)


async def task_failures(client: Client, ids: list[str]) -> list[str]:
    failures = []
    for wid in ids:
        try:
            async for e in client.get_workflow_handle(wid).fetch_history_events():
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failures.append(f"{wid}: {e.workflow_task_failed_event_attributes.failure.message}")
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # not started yet
                raise
    return failures


async def completed_by(client: Client, wid: str) -> list[str]:
    """The identities of the workers that completed the workflow's tasks, in order."""
    return [
        e.workflow_task_completed_event_attributes.identity
        async for e in client.get_workflow_handle(wid).fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]


async def stage_is_idle(gantry: Gantry, project: str, stage: str) -> bool:
    view: StageLockView | None = await gantry.stage_lock(project, stage)
    return view is not None and view.holder is None and not view.queue and not view.pending


class Watch:
    """Wait on conditions with deadlines; fail at once, with Temporal's message, when a
    workflow task of a watched run fails (as replaying an old history on incompatible code does)."""

    def __init__(self, client: Client, ids: list[str], diagnostics):
        self.client, self.ids, self.diagnostics = client, list(ids), diagnostics

    async def check(self) -> None:
        failures = await task_failures(self.client, self.ids)
        assert not failures, "a workflow task failed:\n" + "\n".join(failures) + self.diagnostics()

    async def until(self, predicate, *, timeout: float, message: str):
        deadline = time.monotonic() + timeout
        next_check = 0.0
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            now = time.monotonic()
            if now >= next_check:
                await self.check()
                next_check = now + 1.0
            if now > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {message}{self.diagnostics()}")
            await asyncio.sleep(0.1)

    async def result(self, awaitable, *, timeout: float, message: str):
        """Await a call (an update, a workflow's result) the same way."""
        task = asyncio.ensure_future(awaitable)
        try:
            await self.until(task.done, timeout=timeout, message=message)
        finally:
            task.cancel()
        return task.result()


# -- the test --------------------------------------------------------------------------


async def test_runs_started_by_the_previous_code_finish_under_the_current_code(
    client: Client, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    previous, _commit = extract_previous(tmp_path / "previous")
    task_queue, worker_id, project = f"gantry-upgrade-{unique}", f"upgrade-{unique}", f"upgr-{unique}"
    old = worker(previous, temporal_address, task_queue, worker_id, tmp_path, "previous")
    new = worker(REPO_ROOT, temporal_address, task_queue, worker_id, tmp_path, "current")

    def diagnostics() -> str:
        logs = [(tmp_path / f"worker-{n}.log") for n in ("previous", "current")]
        return "".join(f"\n--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())

    repo = make_gitops_repo(tmp_path / "remote")
    source = tmp_path / "app-src"
    git("init", "-q", "-b", "main", str(source))
    (source / "README").write_text("v1\n")
    git("add", "-A", cwd=source)
    git("commit", "-q", "-m", "v1", cwd=source)
    gantry = Gantry(client, task_queue)
    ids = [
        project_workflow_id(project),
        stage_workflow_id(project, "staging"),
        stage_workflow_id(project, "qa"),
        warehouse_workflow_id(project, "src"),
    ]
    watch = Watch(client, ids, diagnostics)

    with ScriptedServer(script=list(SCRIPT), then=OK) as metrics:
        try:
            # -- the previous code ------------------------------------------------------
            old.start()
            await watch.until(lambda: polled_by(client, task_queue, old), timeout=30, message="the previous worker to poll")
            text = (
                with_soak(pipeline_manifests(project, repo.url), f"{int(SOAK.total_seconds())}s")
                + AUTO_CONFIG.format(project=project)
                + QA.format(project=project, url=metrics.url)
                + warehouse_doc(project, f"  - git:\n      repoURL: file://{source}\n      branch: main\n", name="src")
            )
            # the previous code's client too: a current client may use what the previous worker lacks
            before = await run_previous_client(
                previous,
                {
                    "address": temporal_address, "task_queue": task_queue, "project": project, "manifests": text,
                    "tag_a": "1.0.0", "tag_b": "2.0.0",
                },
                diagnostics,
            )  # fmt: skip
            a, b = before["a"], before["b"]  # Freight names
            first_freight = before["warehouse_freight"]
            soak_ends = datetime.fromisoformat(before["a_verified_in_dev_at"]) + SOAK
            qa = client.get_workflow_handle(before["qa_promotion"])
            qa_name = qa.id.rsplit("/", 1)[-1]
            verification_b = verification_workflow_id(project, "qa", qa_name)
            watch.ids += [qa.id, verification_b]
            await watch.until(lambda: metrics.count >= 2, timeout=20, message="two measurements of B's verification")

            # -- replace the worker ---------------------------------------------------------
            old.stop()  # SIGTERM: a graceful shutdown, as a deployment does
            taken_before = metrics.count
            description = await client.get_workflow_handle(verification_b).describe()
            assert description.status == WorkflowExecutionStatus.RUNNING, "B's verification ended before the upgrade"
            assert 1 <= taken_before < len(EXPECTED), f"{taken_before} measurements before the upgrade"
            new.start()
            await watch.until(lambda: polled_by(client, task_queue, new), timeout=30, message="the current worker to poll")
            assert datetime.now(UTC) < soak_ends, "the soak ended before the current worker came: not an upgrade mid-soak"

            # -- B: its verification goes on and ends with the right verdict ------------------
            status_b = await watch.result(
                gantry.promotion_result(qa.id), timeout=30, message="B's promotion to end"
            )
            assert status_b.phase == "Succeeded", f"{status_b}{diagnostics()}"
            run = await gantry.verification_result(verification_b)
            assert run.phase == "Failed", run
            assert [m.phase for m in run.metrics[0].measurements] == EXPECTED, run.metrics[0]
            assert metrics.count == len(EXPECTED), "a measurement was taken twice or one too many"
            assert status_b.verification.startswith("Failed"), status_b.verification
            found_b = await gantry.get_freight(project, b)
            assert "qa" in found_b["status"]["currentlyIn"]
            assert "qa" not in (found_b["status"].get("verifiedIn") or {})

            # -- A: the soak ends under the current code and A is auto-promoted to staging ----
            promotion_a = promotion_workflow_id(project, "staging", f"staging.auto.{a[:12]}")

            async def started() -> bool:
                return bool(await gantry.promotions(project, "staging"))

            await watch.until(started, timeout=30, message="the auto-promotion of A to staging")
            watch.ids.append(promotion_a)
            status_a = await watch.result(
                gantry.promotion_result(promotion_a),
                timeout=30,
                message="A's promotion to staging to end",
            )
            assert status_a.phase == "Succeeded", f"{status_a}{diagnostics()}"
            assert status_a.actor == "auto-promotion"
            assert status_a.steps[0].started_at >= soak_ends, f"started {status_a.steps[0].started_at}, soak ended {soak_ends}"
            assert "newTag: 1.0.0" in repo.show("env/staging/kustomization.yaml")
            found_a = await gantry.get_freight(project, a)
            assert {"dev", "staging"} <= set(found_a["status"]["currentlyIn"])

            # -- locks free, nothing else promoted ----------------------------------------------
            for stage in ("dev", "staging", "qa"):
                await watch.until(lambda s=stage: stage_is_idle(gantry, project, s), timeout=20, message=f"{stage} to be idle")
            rows = await gantry.promotions(project)
            assert sorted((r["stage"], r["freight"]) for r in rows) == sorted(
                [("dev", a), ("qa", b), ("staging", a)]
            ), rows

            # -- the Warehouse run of the old code makes the next Freight -------------------------
            (source / "README").write_text("v2\n")
            git("commit", "-q", "-am", "v2", cwd=source)
            second = await watch.result(
                gantry.refresh_warehouse(project, "src", wait=True), timeout=20, message="a pass of the Warehouse src"
            )
            assert second is not None and second.error == "" and second.last_freight not in ("", None, first_freight), second

            # -- every run was carried over, and no workflow task failed ------------------------
            await watch.check()
            assert old.proc is not None and new.proc is not None
            old_identity, new_identity = f"{old.proc.pid}@", f"{new.proc.pid}@"
            for wid in [*ids, qa.id, verification_b]:
                who = await completed_by(client, wid)
                firsts = [n for n, i in enumerate(who) if i.startswith(new_identity)]
                assert who and who[0].startswith(old_identity) and firsts, f"{wid}: tasks completed by {who}"
                assert all(i.startswith(new_identity) for i in who[firsts[0]:]), f"{wid}: {who}"
        finally:
            old.stop()
            new.stop()
