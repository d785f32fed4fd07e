"""`gantry promote --wait` (issue 12, part 4): each step by alias and kind with its time, the
total time; Ctrl-C says the promotion goes on and how to watch it again or abort it;
`gantry get promotion NAME --watch` re-attaches; and waiting survives a restart of the
Temporal server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from client.api import Gantry
from client.devserver import DevServer, ensure_search_attributes, free_port
from tests.conftest import WorkerHandle, wait_for
from tests.integration.test_promotion import apply_text
from tests.integration.test_soak_restarts import connect_when_ready, has_pollers
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.workerproc import Gate, WorkerPool, write_hook

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    """`python -m client.cli` in a subprocess, not on a terminal, 80 columns; output collected."""

    def __init__(self, address: str, task_queue: str) -> None:
        self.address, self.task_queue = address, task_queue

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client.cli", "--address", self.address, "--task-queue", self.task_queue, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"},
        )  # fmt: skip

    async def run(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        proc = await self.start(*args)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        return proc.returncode or 0, out.decode()


class Output:
    """Reads a process's output as it comes, so a test can wait for a line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc, self.text = proc, ""
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(4096):
            self.text += chunk.decode(errors="replace")

    async def finish(self, timeout: float = 120) -> tuple[int, str]:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self.reader
        return code, self.text


def normalise(out: str, project: str) -> str:
    out = re.sub(r"\b(dev|staging)\.[0-9a-f]{19}\.[0-9a-f]{7}\b", r"\1.<ID>", out)
    out = out.replace(project, "<PROJECT>")
    out = re.sub(r"\b\d+(\.\d)?s\b|\b\d+m\d\ds\b|\b\d+h\d\dm\b", "<T>", out)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<DATE>", out)


async def make_project(gantry: Gantry, tmp_path: Path, unique: str, tag: str):
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"wait-{unique}"
    await apply_text(gantry, pipeline_manifests(project, repo.url))
    freight = await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": tag}], "alias": f"t{unique}"}
    )
    return repo, project, freight


async def test_wait_output_snapshot(worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str) -> None:
    _, project, freight = await make_project(worker.gantry, tmp_path, unique, "8.0.0")
    code, out = await Cli(temporal_address, worker.task_queue).run(
        "promote", "-p", project, "-s", "dev", "--freight", freight["alias"], "--wait"
    )
    assert code == 0, out
    assert normalise(out, project) == (
        "promotion dev.<ID> started (workflow id promotion/<PROJECT>/dev/dev.<ID>)\n"
        "  1. step-1 (git-clone): Running\n"
        "  1. step-1 (git-clone): Succeeded in <T>\n"
        "  2. set-image (kustomize-set-image): Running\n"
        "  2. set-image (kustomize-set-image): Succeeded in <T>\n"
        "  3. step-3 (git-commit): Running\n"
        "  3. step-3 (git-commit): Succeeded in <T>\n"
        "  4. step-4 (git-push): Running\n"
        "  4. step-4 (git-push): Succeeded in <T>\n"
        "Succeeded in <T>: 4 of 4 steps succeeded\n"
        "freight verified in dev at <DATE> UTC\n"
    ), out


async def test_ctrl_c_leaves_it_running_and_watch_reattaches(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo, project, freight = await make_project(worker.gantry, tmp_path, unique, "8.1.0")
    gate = Gate(block=tmp_path / "block", entered=tmp_path / "entered")
    write_hook(repo.bare / "hooks" / "pre-receive", gate)
    gate.close()
    cli = Cli(temporal_address, worker.task_queue)
    try:
        waiting = Output(await cli.start("promote", "-p", project, "-s", "dev", "--freight", freight["alias"], "--wait"))
        await wait_for(gate.entered.exists, timeout=60, message="git-push to reach the remote's hook")
        await wait_for(lambda: "(git-push): Running" in waiting.text, timeout=10, message="the Running line of git-push")
        waiting.proc.send_signal(signal.SIGINT)
        code, out = await waiting.finish(30)
        assert code == 130, out
        name = re.search(r"promotion (\S+) started", out).group(1)  # type: ignore[union-attr]
        assert f"stopped watching; promotion {name} continues." in out
        assert f"gantry get promotion {name} -p {project} --watch" in out
        assert f"gantry promote -p {project} --abort {name}" in out
        assert "Traceback" not in out and "KeyboardInterrupt" not in out

        watching = Output(await cli.start("get", "promotion", name, "-p", project, "--watch"))
        await wait_for(lambda: "(git-push): Running" in watching.text, timeout=30, message="--watch to show the running step")
    finally:
        gate.open()
    code, out = await watching.finish()
    assert code == 0, out
    assert "4. step-4 (git-push): Succeeded in " in out and "Succeeded in " in out.splitlines()[-2]


async def test_promote_wait_survives_a_server_restart(tmp_path: Path, unique: str) -> None:
    port = free_port()
    db = tmp_path / "temporal" / "temporal.db"
    log = tmp_path / "server.log"

    def server() -> DevServer:
        return DevServer(db_file=db, port=port, ui_port=None, log_file=log).start()

    own = server()
    task_queue = f"gantry-wait-{unique}"
    pool = WorkerPool(own.address, task_queue, tmp_path)
    try:
        client: Client = await connect_when_ready(own.address)
        await ensure_search_attributes(client)
        pool.start("wait-host")
        await wait_for(lambda: has_pollers(client, task_queue), timeout=30, message="the worker to poll")
        repo, project, freight = await make_project(Gantry(client, task_queue), tmp_path, unique, "8.2.0")
        gate = Gate(block=tmp_path / "block", entered=tmp_path / "entered")
        write_hook(repo.bare / "hooks" / "pre-receive", gate)
        gate.close()

        waiting = Output(
            await Cli(own.address, task_queue).start("promote", "-p", project, "-s", "dev", "--freight", freight["alias"], "--wait")
        )
        await wait_for(gate.entered.exists, timeout=60, message="git-push to reach the remote's hook")
        await wait_for(lambda: "(git-push): Running" in waiting.text, timeout=20, message="the Running line of git-push")
        own.stop()
        await wait_for(lambda: "lost the Temporal server" in waiting.text, timeout=30, message="the CLI to notice the server is gone")
        assert waiting.proc.returncode is None, waiting.text
        gate.open()
        own = server()  # same SQLite file, same port
        if not pool.workers[-1].alive():
            pool.start("wait-host")
        code, out = await waiting.finish(150)
        assert code == 0, out + "\n--- worker ---\n" + pool.log_tail()
        assert f"lost the Temporal server at {own.address}; reconnecting…" in out
        assert "\nreconnected\n" in out
        assert out.index("(git-push): Running") < out.index("lost the Temporal server") < out.index("(git-push): Succeeded")
        assert "retried" not in out, "the SDK's core logs no warnings into the CLI's output"
        assert "Succeeded in " in out and "Traceback" not in out
        assert "newTag: 8.2.0" in repo.show("env/dev/kustomization.yaml")
    finally:
        pool.stop_all()
        own.stop()


GATED_JOB = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: gated, namespace: {project}}}
spec:
  metrics:
  - name: gated
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: gated
                image: local/gated
                command: ["{python}", "-c", "{script}"]
              restartPolicy: Never
          backoffLimit: 0
---
"""


async def test_verify_survives_a_server_restart(tmp_path: Path, unique: str) -> None:
    from tests.integration.test_verification import PIPELINE
    from tests.jobs import JOB_PYTHON, remove, shared_dir

    shared = shared_dir()
    block, entered = shared / "block", shared / "entered"
    script = (
        "import os, time; open('%s', 'w').close(); deadline = time.time() + 90\\n"
        "while os.path.exists('%s') and time.time() < deadline: time.sleep(0.1)"
    ) % (entered, block)
    port = free_port()
    db = tmp_path / "temporal" / "temporal.db"

    def server() -> DevServer:
        return DevServer(db_file=db, port=port, ui_port=None, log_file=tmp_path / "server.log").start()

    own = server()
    task_queue = f"gantry-verify-{unique}"
    pool = WorkerPool(own.address, task_queue, tmp_path)
    try:
        client: Client = await connect_when_ready(own.address)
        await ensure_search_attributes(client)
        pool.start("verify-host")
        await wait_for(lambda: has_pollers(client, task_queue), timeout=30, message="the worker to poll")
        gantry = Gantry(client, task_queue)
        project = f"vwait-{unique}"
        await apply_text(
            gantry,
            PIPELINE.format(project=project, refs="    - name: gated")
            + GATED_JOB.format(project=project, python=JOB_PYTHON, script=script),
        )
        freight = await gantry.create_freight(
            project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "my-registry/my-app", "tag": "1.0.0"}]}
        )
        assert (await (await gantry.promote(project, "uat", freight["name"])).result()).verified_at  # gate open
        entered.unlink()
        block.touch()

        waiting = Output(await Cli(own.address, task_queue).start("verify", "-p", project, "-s", "uat"))
        await wait_for(entered.exists, timeout=60, message="the verification job to start")
        own.stop()
        await wait_for(lambda: "lost the Temporal server" in waiting.text, timeout=30, message="the CLI to notice the server is gone")
        block.unlink()
        own = server()
        if not pool.workers[-1].alive():
            pool.start("verify-host")
        code, out = await waiting.finish(150)
        assert code == 0, out + "\n--- worker ---\n" + pool.log_tail()
        assert f"lost the Temporal server at {own.address}; reconnecting…" in out and "\nreconnected\n" in out
        assert "Succeeded" in out and "Traceback" not in out
    finally:
        pool.stop_all()
        own.stop()
        remove(shared)
