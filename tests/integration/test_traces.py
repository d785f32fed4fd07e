"""Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, a worker process and the `gantry` CLI export
OpenTelemetry spans over OTLP/HTTP (to a loopback collector here, which decodes what arrives),
and a promotion started by `gantry promote` is one trace across both processes."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from client.api import Gantry
from tests.conftest import wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.workerproc import WorkerProcess

pytestmark = pytest.mark.integration


class Collector:
    """An OTLP/HTTP trace receiver: `spans` are (trace id, name) of every span posted."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[tuple[str, str]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans += [(span.trace_id.hex(), span.name) for span in scope.spans]
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_a_promotion_is_one_trace_across_the_cli_and_the_worker(
    client, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    collector = Collector()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    queue = f"gantry-traces-{unique}"
    worker = WorkerProcess(
        temporal_address, queue, f"traces-{unique}", tmp_path / "work", tmp_path / "worker.log", env=env,
        extra_args=("--allow-local-repos",),
    ).start()  # fmt: skip
    try:
        gantry = Gantry(client, queue)
        repo = make_gitops_repo(tmp_path / "remote")
        project = f"traces-{unique}"
        await apply_text(gantry, pipeline_manifests(project, repo.url))
        freight = await gantry.create_freight(
            project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "1.0.0"}]}
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client.cli", "--address", temporal_address, "--task-queue", queue,
            "promote", "-p", project, "--stage", "dev", "--freight", freight["name"], "--wait",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, **env},
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, out.decode()

        def trace_of(name: str) -> set[str]:
            return {trace for trace, span in collector.spans if span == name}

        def complete() -> bool:
            started = trace_of("StartWorkflow:PromotionWorkflow")
            return bool(started) and bool(started & trace_of("RunActivity:git-push"))

        await wait_for(complete, timeout=30, message="the CLI's and the worker's spans of one promotion")
        [trace] = trace_of("StartWorkflow:PromotionWorkflow")
        names = {span for t, span in collector.spans if t == trace}
        for step in ("git-clone", "kustomize-set-image", "git-commit", "git-push"):
            assert f"StartActivity:{step}" in names and f"RunActivity:{step}" in names, names
        assert "RunWorkflow:PromotionWorkflow" in names
    finally:
        worker.stop()
        collector.close()
