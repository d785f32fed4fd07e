"""SIGTERM to a worker in the middle of a step (issue 14): the worker stops polling, lets the
step finish within its grace period and exits 0; a step the grace period cuts off resumes on
another worker. The promotion succeeds either way, with exactly one new commit.

The step is git-push, held by the remote's pre-receive hook (tests/workerproc.Gate). Worker A
starts alone, so it is the one holding the promotion's steps; worker B starts once the step
is held. SIGTERM goes to A's process only, not its group, as an orchestrator stops it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from client.devserver import free_port
from tests.conftest import wait_for
from tests.integration.test_worker_crash import start_promotion
from tests.integration.test_worker_crash_steps import step_attempts
from tests.pipelines import make_gitops_repo
from tests.workerproc import Gate, WorkerProcess, write_hook
from workflows.messages import PromotionOptions

pytestmark = pytest.mark.integration

OPTIONS = PromotionOptions(step_heartbeat_timeout=timedelta(seconds=3), worker_wait_timeout=timedelta(seconds=6))


def worker(temporal_address: str, task_queue: str, tmp: Path, worker_id: str, *args: str) -> WorkerProcess:
    return WorkerProcess(
        temporal_address, task_queue, worker_id, tmp / f"work-{worker_id}", tmp / f"worker-{worker_id}.log",
        extra_args=args,
    )  # fmt: skip


def exit_code(w: WorkerProcess, timeout: float) -> int | None:
    assert w.proc is not None
    try:
        return w.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


@pytest.fixture
def held_push(temporal_address: str, tmp_path: Path, unique: str):
    repo = make_gitops_repo(tmp_path / "remote")
    gate = Gate(block=tmp_path / "block", entered=tmp_path / "entered")
    write_hook(repo.bare / "hooks" / "pre-receive", gate)
    started: list[WorkerProcess] = []

    def start(worker_id: str, *args: str) -> WorkerProcess:
        w = worker(temporal_address, f"gantry-graceful-{unique}", tmp_path, worker_id, *args).start()
        started.append(w)
        return w

    yield repo, gate, f"gantry-graceful-{unique}", start
    gate.open()
    for w in started:
        w.stop()


async def test_sigterm_lets_the_running_step_finish_then_exits_0(client, held_push, unique: str) -> None:
    repo, gate, task_queue, start = held_push
    before = repo.commits()
    gate.close()
    a = start("host-a", "--grace-period", "60")
    handle = await start_promotion(client, task_queue, repo, unique, options=OPTIONS)
    await wait_for(gate.entered.exists, timeout=60, message="git-push to reach the remote's hook")
    start("host-b", "--grace-period", "60")

    a.terminate()
    await wait_for(lambda: "worker stopping" in a.log.read_text(), timeout=15, message="worker A to start stopping")
    assert a.alive(), "worker A waits for its running step"
    gate.open()

    code = await asyncio.to_thread(exit_code, a, 60)
    assert code == 0, (code, a.log.read_text()[-3000:])
    status = await asyncio.wait_for(handle.result(), 90)
    assert status.phase == "Succeeded", (status.message, [(s.uses, s.status, s.message) for s in status.steps])
    assert status.restarts == 0, "the step finished on worker A: nothing moved"
    assert len(repo.commits()) == len(before) + 1
    attempts = await step_attempts(handle)
    assert attempts["git-push"] == 1, attempts


async def test_a_step_cut_off_by_the_grace_period_finishes_on_another_worker(client, held_push, unique: str) -> None:
    repo, gate, task_queue, start = held_push
    before = repo.commits()
    gate.close()
    a = start("host-a", "--grace-period", "1")
    handle = await start_promotion(client, task_queue, repo, unique, options=OPTIONS)
    await wait_for(gate.entered.exists, timeout=60, message="git-push to reach the remote's hook")
    start("host-b", "--grace-period", "1")

    a.terminate()
    code = await asyncio.to_thread(exit_code, a, 30)
    assert code == 0, (code, a.log.read_text()[-3000:])
    gate.open()

    status = await asyncio.wait_for(handle.result(), 120)
    assert status.phase == "Succeeded", (status.message, [(s.uses, s.status, s.message) for s in status.steps])
    assert status.restarts == 1, "the cut-off step started again on worker B"
    assert len(repo.commits()) == len(before) + 1, "exactly one new commit"
    assert "newTag: 7.0.0" in repo.show("env/dev/kustomization.yaml")


def get(port: int, path: str) -> tuple[int, dict] | None:
    """(status, JSON body) of GET http://127.0.0.1:port/path; None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


async def test_health_endpoints(client, temporal_address: str, tmp_path: Path, unique: str) -> None:
    port = free_port()
    w = worker(temporal_address, f"gantry-health-{unique}", tmp_path, "host-h", "--health-port", str(port)).start()
    try:
        await wait_for(lambda: (get(port, "/readyz") or (0,))[0] == 200, timeout=60, message="/readyz to answer 200")
        assert get(port, "/healthz") == (200, {"status": "ok"})
        assert get(port, "/readyz") == (200, {"status": "ok"})
        assert (get(port, "/nothing") or (0,))[0] == 404

        w.terminate()

        def not_ready() -> bool:
            answer = get(port, "/readyz")
            return answer is None or answer[0] == 503

        await wait_for(not_ready, timeout=30, message="/readyz to answer 503 or the port to close")
        assert await asyncio.to_thread(exit_code, w, 30) == 0, w.log.read_text()[-3000:]
        assert get(port, "/readyz") is None, "the port closes when the worker exits"
    finally:
        w.stop()
