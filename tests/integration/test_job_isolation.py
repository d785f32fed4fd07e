"""A local job against the worker that runs it (issue 10, parts 6 and 8): the job cannot
read the worker's credentials, nothing of them reaches the log, the result or history;
`python worker.py --allow-local-jobs` is the opt-in; the run's logs go when it ends; a
worker without the opt-in fails the verification with a message that says how."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.metrics.base import safe_name
from client.api import Gantry
from client.manifests import load_paths
from pipeline.analysis import build_run_spec
from pipeline.manifests import AnalysisTemplate
from tests.conftest import WorkerHandle, wait_for
from tests.workerproc import WorkerProcess
from workflows.verification import VerificationRequest, VerificationStatus

pytestmark = pytest.mark.integration

TEMPLATE = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: snoop, namespace: iso}}
spec:
  metrics:
  - name: snoop
    consecutiveErrorLimit: 0
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: snoop
                image: local/snoop
                command: ["sh", "-c", {command}]
"""


def run_spec(tmp_path: Path, command: str):
    import json

    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE.format(command=json.dumps(command)))
    loaded = load_paths([str(path)], default_project="iso")
    templates = [m.manifest for m in loaded.manifests if isinstance(m.manifest, AnalysisTemplate)]
    return build_run_spec(templates, {})


async def test_a_job_cannot_read_the_workers_credentials(client: Client, temporal_address: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    secret = f"s3cret-{suffix}-worker-only"
    queue = f"gantry-iso-{suffix}"
    work = tmp_path / "work"
    worker = WorkerProcess(
        temporal_address,
        queue,
        f"iso-{suffix}",
        work,
        tmp_path / "worker.log",
        env={
            "GANTRY_GIT_CREDENTIALS_9_URL": "https://git.example.com/",
            "GANTRY_GIT_CREDENTIALS_9_USERNAME": "bot",
            "GANTRY_GIT_CREDENTIALS_9_PASSWORD": secret,
            "GANTRY_ALLOW_LOCAL_JOBS": "",  # only the flag below turns local jobs on
            "GANTRY_JOB_LOG_RETENTION": "3",
        },
    )
    worker.args.append("--allow-local-jobs")
    worker.start()
    try:
        assert worker.proc is not None
        pid = worker.proc.pid  # python worker.py runs the workers in this very process
        spec = run_spec(tmp_path, f"cat /proc/$PPID/environ /proc/{pid}/environ; env; echo snooped")
        run_id = f"analysis/iso-{suffix}"
        handle = await client.start_workflow(
            "VerificationWorkflow", VerificationRequest(spec=spec), id=run_id, task_queue=queue,
            result_type=VerificationStatus,
        )  # fmt: skip
        status = await asyncio.wait_for(Gantry(client).verification_result(handle.id), 90)
        folder = work / "analysis" / safe_name(run_id, "run")
        log = (folder / "snoop.log").read_text(errors="replace")

        assert status.phase == "Successful", status
        message = status.metrics[0].measurements[0].message
        assert "snooped" in message and "snooped" in log  # the job ran, through the forwarded flag
        assert "Permission denied" in log  # it tried
        assert secret not in log
        assert secret not in message and secret not in status.model_dump_json()
        history = (await handle.fetch_history()).to_json()
        payloads = "".join(base64.b64decode(d).decode(errors="replace") for d in re.findall(r'"data": "([^"]*)"', history))
        assert "snooped" in payloads and secret not in payloads + history

        await wait_for(lambda: not folder.exists(), timeout=30, message="the run's job logs to be removed")
    finally:
        worker.stop()
    assert secret not in (tmp_path / "worker.log").read_text(errors="replace")


async def test_without_the_opt_in_verification_says_how_to_turn_it_on(
    worker: WorkerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GANTRY_ALLOW_LOCAL_JOBS", raising=False)
    ran = tmp_path / "ran"
    handle = await worker.gantry.client.start_workflow(
        "VerificationWorkflow",
        VerificationRequest(spec=run_spec(tmp_path, f"touch {ran}")),
        id=f"analysis/off-{uuid.uuid4().hex[:8]}",
        task_queue=worker.task_queue,
        result_type=VerificationStatus,
    )
    status = await worker.gantry.verification_result(handle.id)
    assert status.phase in ("Error", "Failed"), status
    message = status.metrics[0].measurements[0].message
    assert "GANTRY_ALLOW_LOCAL_JOBS=1" in message and "--allow-local-jobs" in message
    assert not ran.exists()
