"""A step that fails logs one line on the worker, not a traceback (issue 10, part 8)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.conftest import WorkerHandle
from tests.integration.test_promotion import setup_project

pytestmark = pytest.mark.integration


async def test_a_failed_step_logs_one_line(
    worker: WorkerHandle, tmp_path: Path, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    repo, project, freight = await setup_project(worker, tmp_path, unique)
    other = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/other", "tag": "9"}]}
    )
    with caplog.at_level(logging.WARNING, logger="temporalio.activity"):
        status = await asyncio.wait_for((await worker.gantry.promote(project, "dev", other["name"])).result(), 60)
    assert status.phase == "Failed"
    failed = [r for r in caplog.records if r.name == "temporalio.activity" and "Completing activity as failed" in r.getMessage()]
    assert failed, caplog.text
    for record in failed:
        assert record.exc_info is None and record.exc_text is None
        line = caplog.handler.format(record)
        assert "\n" not in line and "Traceback" not in line
        assert "StepFailed: " in record.getMessage()
    assert "Traceback" not in caplog.text
