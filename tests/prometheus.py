"""A real Prometheus for the metric provider tests, scraping a small app the test controls.

Prometheus comes from the Debian package ``prometheus`` (``/usr/bin/prometheus``, or
``GANTRY_TEST_PROMETHEUS`` naming another binary); tests using the fixture are skipped
with a clear reason when it is absent. The session starts one server on a loopback port
with ``scrape_interval: 1s``, scraping :class:`TestApp`: a stdlib HTTP server in a thread
exposing ``/metrics`` in the Prometheus text format with one counter,
``http_requests_total{status, app, namespace}``. The app serves a steady 100 requests/s per
``(app, namespace)`` series the test has set, split into ``status="500"`` and
``status="200"`` by the error rate the test chooses::

    def test_x(prometheus):
        prometheus.app.set_error_rate(0.1, app="my-app", namespace="uat")
        prometheus.wait_for('sum(rate(http_requests_total{app="my-app"}[5m]))')

Use a distinct ``app`` per test: the server is shared by the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REQUESTS_PER_SECOND = 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestApp:
    """``/metrics`` with counters whose rates the test controls."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (app, namespace) -> [error rate, total 200s, total 500s, last advance time]
        self._series: dict[tuple[str, str], list[float]] = {}
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self.scrapes = 0

    def _advance(self, now: float) -> None:
        for s in self._series.values():
            dt = max(0.0, now - s[3])
            s[1] += dt * REQUESTS_PER_SECOND * (1.0 - s[0])
            s[2] += dt * REQUESTS_PER_SECOND * s[0]
            s[3] = now

    def set_error_rate(self, rate: float, app: str = "my-app", namespace: str = "uat") -> None:
        """From now on, ``rate`` of the app's requests answer 500 (0 <= rate <= 1)."""
        assert 0.0 <= rate <= 1.0
        with self._lock:
            now = time.monotonic()
            self._advance(now)
            s = self._series.setdefault((app, namespace), [rate, 0.0, 0.0, now])
            s[0] = rate

    def exposition(self) -> str:
        with self._lock:
            self._advance(time.monotonic())
            lines = [
                "# HELP http_requests_total Requests served, by status.",
                "# TYPE http_requests_total counter",
            ]
            for (app, ns), s in sorted(self._series.items()):
                for status, value in (("200", s[1]), ("500", s[2])):
                    lines.append(f'http_requests_total{{status="{status}",app="{app}",namespace="{ns}"}} {value:.3f}')
            self.scrapes += 1
        return "\n".join(lines) + "\n"

    def start(self) -> "TestApp":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = owner.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="test-app").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class PrometheusServer:
    address: str
    app: TestApp
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, q: str) -> dict[str, Any]:
        """Prometheus' ``data`` for an instant query (raises if the query fails)."""
        r = httpx.get(self.address + "/api/v1/query", params={"query": q}, timeout=10)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def wait_for(
        self, q: str, until: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll ``q`` until its result is non-empty (and ``until(data)`` holds), or fail
        after ``timeout`` seconds. Returns the last ``data``."""
        deadline = time.monotonic() + timeout
        data: dict[str, Any] = {}
        while True:
            data = self.query(q)
            if data.get("result") and (until is None or until(data)):
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus had no result for {q!r} within {timeout}s: {data}")
            time.sleep(0.25)


def prometheus_binary() -> str | None:
    explicit = os.environ.get("GANTRY_TEST_PROMETHEUS")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)


@contextlib.contextmanager
def running_prometheus(directory: Path, targets: tuple[str, ...] = ()) -> Iterator[PrometheusServer]:
    """A Prometheus scraping a fresh TestApp (and `targets`, host:port of more /metrics) every
    second, its files in `directory`; stopped on exit. For the fixture below,
    scripts/record_histories.py and the worker-metrics test."""
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError("Prometheus is not installed: apt-get install prometheus (Debian package), or set GANTRY_TEST_PROMETHEUS")
    app = TestApp().start()
    target = app.url.removeprefix("http://")
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "- job_name: test-app\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"  static_configs:\n  - targets: ['{target}']\n"
        + "".join(
            f"- job_name: target-{i}\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  static_configs:\n  - targets: ['{t}']\n"
            for i, t in enumerate(targets)
        )
    )
    port = _free_port()
    log = directory / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--query.lookback-delta=30s",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PrometheusServer(f"http://127.0.0.1:{port}", app, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(server.address + "/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready within 60s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        app.stop()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    if prometheus_binary() is None:
        pytest.skip("Prometheus is not installed: apt-get install prometheus (Debian package), or set GANTRY_TEST_PROMETHEUS")
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as server:
        yield server
