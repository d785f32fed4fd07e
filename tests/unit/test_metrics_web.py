"""measure-web against a loopback HTTP server the test controls."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.metrics.base import MeasureRequest, MeasureResult  # noqa: E402
from activities.metrics.web import PathError, measure_web, parse_path, select  # noqa: E402

env = ActivityEnvironment()


@dataclass
class Route:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> raw
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _any(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            state.seen.append(Seen(self.command, self.path, dict(self.headers.items()), self.rfile.read(n)))
            route = state.routes.get(self.path, Route(404, "no such page"))
            if route.delay:
                time.sleep(route.delay)
            body = route.body
            raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
            raw = raw.encode() if isinstance(raw, str) else raw
            try:
                self.send_response(route.status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = _any  # noqa: N815

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield state
    httpd.shutdown()
    httpd.server_close()


async def measure(**web: Any) -> MeasureResult:
    return await env.run(measure_web, MeasureRequest(run="run-1", metric="web", provider={"web": web}))


async def test_json_path_selects_a_typed_value(server: Server) -> None:
    server.routes["/health"] = Route(200, {"data": {"ok": True, "rate": 0.01, "items": [{"n": 1}, {"n": 2}]}})
    r = await measure(url=server.url + "/health", jsonPath="{$.data.ok}")
    assert (r.phase, r.value) == (None, True)
    r = await measure(url=server.url + "/health", jsonPath="{$.data.rate}")
    assert r.value == 0.01
    r = await measure(url=server.url + "/health", jsonPath="{$.data.items[1].n}")
    assert r.value == 2
    r = await measure(url=server.url + "/health", jsonPath="{.data.items[*].n}")
    assert r.value == [1, 2]
    r = await measure(url=server.url + "/health", jsonPath="{$.*}")
    assert r.value == [{"ok": True, "rate": 0.01, "items": [{"n": 1}, {"n": 2}]}]
    r = await measure(url=server.url + "/health")
    assert r.value == {"data": {"ok": True, "rate": 0.01, "items": [{"n": 1}, {"n": 2}]}}
    assert r.metadata["status"] == "200"


async def test_plain_text_without_json_path(server: Server) -> None:
    server.routes["/text"] = Route(200, "all good\n")
    r = await measure(url=server.url + "/text")
    assert (r.phase, r.value) == (None, "all good\n")
    r = await measure(url=server.url + "/text", jsonPath="{$.x}")
    assert r.phase == "Error" and "JSON" in r.message


async def test_missing_path_is_an_error(server: Server) -> None:
    server.routes["/h"] = Route(200, {"data": {}})
    r = await measure(url=server.url + "/h", jsonPath="{$.data.ok}")
    assert r.phase == "Error" and "could not find JSONPath" in r.message


async def test_non_2xx_is_an_error_measurement(server: Server) -> None:
    server.routes["/down"] = Route(503, "overloaded")
    r = await measure(url=server.url + "/down", jsonPath="{$.ok}")
    assert r.phase == "Error"
    assert "non 2xx" in r.message and "503" in r.message
    r = await measure(url=server.url + "/missing")
    assert r.phase == "Error" and "404" in r.message


async def test_timeout_is_an_error_measurement(server: Server) -> None:
    server.routes["/slow"] = Route(200, {"ok": True}, delay=3)
    started = time.monotonic()
    r = await measure(url=server.url + "/slow", timeoutSeconds=1)
    assert r.phase == "Error" and "within 1s" in r.message
    assert time.monotonic() - started < 2.5


async def test_unreachable_is_an_error_measurement() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await measure(url=f"http://127.0.0.1:{port}/x")
    assert r.phase == "Error" and "ConnectError" in r.message


async def test_method_headers_and_json_body(server: Server) -> None:
    server.routes["/q"] = Route(200, {"count": 3})
    r = await measure(
        url=server.url + "/q",
        method="POST",
        headers=[{"key": "X-Team", "value": "a"}],
        jsonBody={"query": "errors", "limit": 5},
        jsonPath="{$.count}",
    )
    assert r.value == 3
    seen = server.seen[-1]
    assert seen.method == "POST"
    assert seen.headers["X-Team"] == "a"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"query": "errors", "limit": 5}
    await measure(url=server.url + "/q", method="PUT", body="raw text")
    assert (server.seen[-1].method, server.seen[-1].body) == ("PUT", b"raw text")


async def test_credentials_from_the_store(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/auth"] = Route(200, {"ok": 1})
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_W_URL", server.url)
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_W_USERNAME", "bot")
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_W_PASSWORD", "pw-secret")
    r = await measure(url=server.url + "/auth", jsonPath="{$.ok}")
    assert r.value == 1
    assert server.seen[-1].headers["Authorization"].startswith("Basic ")
    assert "pw-secret" not in r.model_dump_json()
    # a header set in the config wins
    await measure(url=server.url + "/auth", headers=[{"key": "Authorization", "value": "Bearer mine"}])
    assert server.seen[-1].headers["Authorization"] == "Bearer mine"


async def test_bad_config_is_an_error_measurement() -> None:
    assert (await measure()).phase == "Error"
    assert (await measure(url="ftp://x/y")).phase == "Error"
    assert (await measure(url="http://127.0.0.1:1/", jsonPath="{$..a}")).phase == "Error"
    assert (await measure(url="http://127.0.0.1:1/", method="TRACE")).phase == "Error"


def test_json_path_subset() -> None:
    doc = {"a": {"b-c": [10, 20, 30]}, "x": 1}
    assert select(doc, parse_path("{$}"), "") == doc
    assert select(doc, parse_path("{$['a']['b-c'][-1]}"), "") == 30
    assert select(doc, parse_path('{$.a["b-c"][0]}'), "") == 10
    assert select(doc, parse_path("{$.a.b-c[*]}"), "") == [10, 20, 30]
    with pytest.raises(PathError):
        select(doc, parse_path("{$.a.b-c[5]}"), "")
    with pytest.raises(PathError):
        parse_path("{$.a[?(@.x)]}")
