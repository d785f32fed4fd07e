"""A worker process logging JSON lines (issue 14): every line parses; the step activities'
lines carry the project, stage, promotion and step they work on, and Temporal's fields; and
the git password, from the worker's environment, is nowhere in the log, in clear or base64.

The promotion pushes to a git remote over HTTP that demands basic auth, with the credential
in GANTRY_GIT_CREDENTIALS_1_* as in tests/integration/test_no_secrets_in_history.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
from pathlib import Path

import pytest
import structlog
from temporalio.worker import Worker

from client.api import Gantry
from client.logging_setup import configure_logging
from client.worker import sandbox_runner
from tests.conftest import wait_for
from tests.githttp import GitHTTPServer
from tests.logging_workflow import LoggingWorkflow
from tests.integration.test_no_secrets_in_history import USER, secret_forms
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.workerproc import WorkerProcess

pytestmark = pytest.mark.integration


async def test_json_logs_carry_gantry_fields_and_no_secret(client, temporal_address: str, tmp_path: Path, unique: str) -> None:
    password = f"Zq{secrets.token_urlsafe(24)}-pw"
    repo = make_gitops_repo(tmp_path / "remote")
    task_queue = f"gantry-logs-{unique}"
    log = tmp_path / "worker.log"
    with GitHTTPServer(repo.bare.parent, USER, password) as server:
        url = server.url_for(repo.bare)
        env = {
            "GANTRY_GIT_CREDENTIALS_1_URL": url.rsplit("/", 1)[0] + "/",
            "GANTRY_GIT_CREDENTIALS_1_USERNAME": USER,
            "GANTRY_GIT_CREDENTIALS_1_PASSWORD": password,
            "GANTRY_LOG_FORMAT": None,
            "GANTRY_CREDENTIALS_FILE": None,
        }
        w = WorkerProcess(
            temporal_address, task_queue, "host-logs", tmp_path / "work", log, env=env, extra_args=["--log-format", "json"]
        ).start()
        try:
            gantry = Gantry(client, task_queue)
            project = f"logs-{unique}"
            await apply_text(gantry, pipeline_manifests(project, url))
            freight = await gantry.create_freight(
                project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "4.5.6"}]}
            )
            handle = await gantry.promote(project, "dev", freight["name"])
            status = await asyncio.wait_for(handle.result(), 90)
            assert status.phase == "Succeeded", status.message
            await wait_for(lambda: "git-push: " in log.read_text(), timeout=30, message="git-push's log line")
        finally:
            w.stop()

    text = log.read_text()
    for form in secret_forms(password) | {password}:
        assert form not in text, f"a form of the password is in the worker's log: {form!r}"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines), lines[:3]
    push = [line for line in lines if str(line.get("event", "")).startswith("git-push: ")]
    assert push, [line.get("event") for line in lines]
    line = push[-1]
    assert line["project"] == project and line["stage"] == "dev", line
    assert line["promotion"] == status.name, line
    assert line["step"] == status.steps[3].alias and line["uses"] == "git-push", line
    assert line["activity_type"] == "git-push" and line["workflow_id"] == status.name and line["attempt"] == 1, line
    assert line["task_queue"] == w.queue, line
    assert "(" not in line["event"].split(" is at ")[-1], "Temporal's details are fields, not part of the message"


async def test_workflow_lines_carry_gantry_fields_once_despite_replay(client, unique: str) -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)
    task_queue = f"gantry-wflogs-{unique}"
    try:
        async with Worker(
            client, task_queue=task_queue, workflows=[LoggingWorkflow], workflow_runner=sandbox_runner(), max_cached_workflows=0
        ):
            workflow_id = f"promotion/logs-{unique}/dev/dev.1"
            result = await client.execute_workflow(LoggingWorkflow.run, id=workflow_id, task_queue=task_queue)
            assert result == "done"
    finally:
        for h in list(logging.getLogger().handlers):
            if h.__class__.__name__ == "_Handler":
                logging.getLogger().removeHandler(h)
        structlog.reset_defaults()
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    mine = [line for line in lines if line.get("workflow_id") == workflow_id]
    assert [line["event"] for line in mine] == ["before the timer", "after the timer"], "each once: replay logs nothing"
    for line in mine:
        assert line["workflow_type"] == "LoggingWorkflow" and line["task_queue"] == task_queue, line
        assert (line["project"], line["stage"], line["promotion"]) == (f"logs-{unique}", "dev", workflow_id), line
