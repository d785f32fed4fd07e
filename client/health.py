"""`gantry worker --health-port PORT`: liveness and readiness over HTTP (stdlib only).

- ``GET /healthz``: 200 while the worker is connected to its Temporal server (a health
  check RPC answers within ``CHECK_TIMEOUT``) and every worker's poller task still runs;
  503 otherwise.
- ``GET /readyz``: 200 once the workers run and the search attributes check passed; 503
  while starting and from the moment shutdown begins.

Both answer a small JSON object (``{"status": "ok"|"unavailable", "reason": ...}``). The
server runs in a daemon thread; the connection check runs on the worker's event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from temporalio.client import Client

HEALTH_PORT_ENV = "GANTRY_HEALTH_PORT"
#: how long /healthz waits for the server's health check
CHECK_TIMEOUT = 3.0


@dataclass
class HealthState:
    """What the worker reports; ``run_workers`` fills it in."""

    client: Client | None = None
    loop: asyncio.AbstractEventLoop | None = None
    runs: list[asyncio.Task[Any]] = field(default_factory=list)
    running: bool = False
    search_attributes: str | None = "not checked yet"  # None: the check passed; else why not
    shutting_down: bool = False

    def ready(self) -> tuple[bool, str]:
        if self.shutting_down:
            return False, "shutting down"
        if not self.running:
            return False, "starting"
        if self.search_attributes is not None:
            return False, f"search attributes: {self.search_attributes}"
        return True, ""

    def healthy(self) -> tuple[bool, str]:
        if not self.running:
            return False, "workers not running"
        if any(task.done() for task in self.runs):
            return False, "a worker stopped polling"
        if self.client is None or self.loop is None:
            return False, "not connected"
        try:
            future = asyncio.run_coroutine_threadsafe(self.client.service_client.check_health(), self.loop)
            if not future.result(CHECK_TIMEOUT):
                return False, "the Temporal server reports itself unhealthy"
        except Exception as err:  # noqa: BLE001 -- any failure means not connected
            return False, f"Temporal server unreachable: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        return True, ""


class HealthServer:
    """``/healthz`` and ``/readyz`` for ``state`` on ``host:port`` (port 0: any free port)."""

    def __init__(self, state: HealthState, port: int, host: str = "0.0.0.0") -> None:
        self.state = state

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 -- http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    ok, reason = state.healthy()
                elif path == "/readyz":
                    ok, reason = state.ready()
                else:
                    self._answer(404, {"status": "not found", "reason": "GET /healthz or /readyz"})
                    return
                body: dict[str, Any] = {"status": "ok" if ok else "unavailable"}
                if reason:
                    body["reason"] = reason
                self._answer(200 if ok else 503, body)

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode() + b"\n"
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- probes are not news
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="gantry-health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
