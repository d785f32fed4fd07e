"""A worker started while its Temporal server is down (the server restarts at the same time, or
comes up later) waits for it instead of exiting (seen in the small chaos run in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.devserver import DevServer, ensure_search_attributes, free_port
from client.settings import TemporalSettings
from tests.conftest import wait_for
from tests.integration.test_soak_restarts import has_pollers
from tests.workerproc import WorkerProcess

pytestmark = pytest.mark.integration


async def test_a_worker_started_before_its_server_waits_for_it(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    worker = WorkerProcess(f"127.0.0.1:{port}", "gantry-early", "early", tmp_path / "work", log).start()
    server = DevServer(db_file=tmp_path / "temporal.db", port=port, ui_port=None)
    try:
        await wait_for(lambda: log.exists() and "waiting for the Temporal server" in log.read_text(), timeout=30,
                       message="the worker to say it waits")  # fmt: skip
        assert worker.proc is not None and worker.proc.poll() is None, "the worker is still there"
        server.start()
        client = await TemporalSettings(address=server.address, namespace="default").connect_when_ready()
        await ensure_search_attributes(client)
        await wait_for(lambda: has_pollers(client, "gantry-early"), timeout=60, message="the worker to poll")
    finally:
        worker.stop()
        server.stop()
