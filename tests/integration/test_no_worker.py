"""Commands that need a worker say within seconds that none is polling (issue 12, part 4):
not a 30 s hang and an 81-line traceback."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from temporalio.client import Client

from workflows.ids import project_workflow_id
from workflows.project import ProjectInput

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def gantry(address: str, task_queue: str, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client.cli", "--address", address, "--task-queue", task_queue, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), time.monotonic() - started


async def test_reads_and_applies_without_a_worker_say_so_within_seconds(
    client: Client, temporal_address: str, unique: str, tmp_path: Path
) -> None:
    task_queue = f"nobody-polls-{unique}"
    project = f"noworker-{unique}"
    # the project exists (its workflow runs) but no worker polls its task queue
    await client.start_workflow(
        "ProjectWorkflow", ProjectInput(name=project), id=project_workflow_id(project), task_queue=task_queue
    )
    expected = (
        f"error: no Gantry worker is polling task queue {task_queue!r} on {temporal_address}: "
        "start one with `gantry worker` or `gantry dev`"
    )
    manifest = tmp_path / "wh.yaml"
    manifest.write_text(
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {{name: app, namespace: {project}}}\n"
        "spec:\n  subscriptions:\n  - image: {repoURL: registry.test/app}\n"
    )
    for args in (("get", "stages", "-p", project), ("get", "stage", "dev", "-p", project), ("apply", "-f", str(manifest))):
        code, out, took = await gantry(temporal_address, task_queue, *args)
        assert code == 1, out
        assert out.strip() == expected, out
        assert took < 15, f"{args}: {took:.1f}s"
