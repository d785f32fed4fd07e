"""http and http-download against a real loopback HTTP server the test controls."""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.base import STEP_FAILED, WORKDIR_LOST, workdir  # noqa: E402
from activities.steps.http_download import http_download  # noqa: E402
from activities.steps.http_request import canonical_header, http_request, poll_interval  # noqa: E402
from tests.gitrepos import promo, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class Server:
    """Routes path -> Reply (or a callable taking the request); records requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply | Callable[[Seen], Reply]] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                parts = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                req = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), self.rfile.read(n))
                server.seen.append(req)
                route = server.routes.get(parts.path, Reply(404, b"no such page", {"Content-Type": "text/plain"}))
                reply = route(req) if callable(route) else route
                body = reply.body
                headers = dict(reply.headers)
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                    headers.setdefault("Content-Type", "application/json")
                elif isinstance(body, str):
                    body = body.encode()
                self.send_response(reply.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    for var in ("GANTRY_CREDENTIALS_FILE", "GANTRY_HTTP_CREDENTIALS_1_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


async def http(cfg: dict, promotion: str = "p-http"):
    return await env.run(http_request, step(promotion, "http", cfg))


async def test_plain_2xx_succeeds_with_outputs_and_request_fields(server: Server) -> None:
    server.routes["/api/deploy"] = Reply(201, {"id": 42, "links": {"self": "/x"}}, {"X-Request-Id": "abc", "Set-Cookie": "a=1"})
    res = await http({
        "url": server.url + "/api/deploy?fixed=1",
        "method": "POST",
        "headers": [{"name": "X-Token-Kind", "value": "ci"}, {"name": "Content-Type", "value": "application/json"}],
        "queryParams": [{"name": "env", "value": "uat"}, {"name": "q", "value": "a b&c"}],
        "body": '{"version": "1.2.3"}',
        "outputs": [
            {"name": "id", "fromExpression": "response.body.id"},
            {"name": "requestID", "fromExpression": "response.header('x-request-id')"},
            {"name": "cookies", "fromExpression": "response.headers['Set-Cookie']"},
            {"name": "status", "fromExpression": "response.status"},
        ],
    })
    assert res.status == "Succeeded"
    assert res.outputs == {"id": 42, "requestID": "abc", "cookies": ["a=1"], "status": 201}
    seen = server.seen[-1]
    assert seen.method == "POST" and seen.body == b'{"version": "1.2.3"}'
    assert seen.query == {"fixed": ["1"], "env": ["uat"], "q": ["a b&c"]}
    assert seen.headers["X-Token-Kind"] == "ci"


async def test_no_expressions_non_2xx_is_retryable(server: Server) -> None:
    server.routes["/down"] = Reply(503, "maintenance", {"Content-Type": "text/plain"})
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/down"})
    assert not e.value.non_retryable and "503" in str(e.value)
    assert len(server.seen) == 1  # exactly one request per activity call


async def test_running_then_success_one_request_per_call(server: Server) -> None:
    states = iter(["queued", "running", "done"])
    server.routes["/job"] = lambda req: Reply(200, {"state": next(states), "result": {"url": "https://x"}})
    cfg = {
        "url": server.url + "/job",
        "successExpression": "response.body.state == 'done'",
        "failureExpression": "response.body.state == 'failed'",
        "pollInterval": "15s",
        "outputs": [{"name": "url", "fromExpression": "response.body.result.url"}],
    }
    first = await http(cfg)
    assert first.status == "Running" and first.outputs == {} and "15s" in first.message
    assert (await http(cfg)).status == "Running"
    done = await http(cfg)
    assert done.status == "Succeeded" and done.outputs == {"url": "https://x"}
    assert len(server.seen) == 3
    assert poll_interval(cfg) == 15 and poll_interval({}) == 30 and poll_interval({"pollInterval": "1s"}) == 1 and poll_interval({"pollInterval": "100ms"}) == 1


async def test_failure_expression_is_terminal_with_error_expression(server: Server) -> None:
    server.routes["/job"] = Reply(200, {"state": "failed", "error": {"reason": "quota exceeded"}})
    cfg = {
        "url": server.url + "/job",
        "successExpression": "response.body.state == 'done'",
        "failureExpression": "response.body.state == 'failed'",
        "errorExpression": "response.body.error.reason",
    }
    with pytest.raises(ApplicationError) as e:
        await http(cfg)
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert e.value.message == "HTTP (200) response met failure criteria: 'quota exceeded'"
    # a failing errorExpression falls back to the plain message
    with pytest.raises(ApplicationError) as e:
        await http({**cfg, "errorExpression": "response.body.nope.reason"})
    assert e.value.message == "HTTP (200) response met failure criteria"


async def test_success_expression_on_a_404(server: Server) -> None:
    # only the expressions decide once one is set: a 404 can be "success"
    cfg = {"url": server.url + "/gone", "successExpression": "response.status == 404"}
    assert (await http(cfg)).status == "Succeeded"
    cfg = {"url": server.url + "/gone", "failureExpression": "response.status == 500"}
    assert (await http(cfg)).status == "Running"


async def test_body_parsing_by_content_type(server: Server) -> None:
    server.routes["/yaml"] = Reply(200, "a: 1\nlist: [x, y]\n", {"Content-Type": "application/yaml; charset=utf-8"})
    server.routes["/text"] = Reply(200, '{"looks": "json"}', {"Content-Type": "text/plain"})
    server.routes["/unknown"] = Reply(200, '{"a": 2}', {"Content-Type": "application/vnd.custom"})
    server.routes["/html"] = Reply(200, "<html/>", {"Content-Type": "text/html"})
    server.routes["/empty"] = Reply(204, b"")
    out = [{"name": "b", "fromExpression": "response.body"}]
    assert (await http({"url": server.url + "/yaml", "outputs": out})).outputs["b"] == {"a": 1, "list": ["x", "y"]}
    assert (await http({"url": server.url + "/text", "outputs": out})).outputs["b"] == '{"looks": "json"}'
    assert (await http({"url": server.url + "/unknown", "outputs": out})).outputs["b"] == {"a": 2}
    assert (await http({"url": server.url + "/html", "outputs": out})).outputs["b"] == {}
    assert (await http({"url": server.url + "/empty", "outputs": out})).outputs["b"] == {}
    res = await http({"url": server.url + "/text", "responseContentType": "application/json", "outputs": out})
    assert res.outputs["b"] == {"looks": "json"}


async def test_credentials_from_the_store_never_in_results(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/private"] = lambda req: Reply(
        200 if req.headers.get("Authorization") else 401, {"auth": req.headers.get("Authorization", "")})
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_1_URL", server.url + "/private")
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_1_TOKEN", "tok-123")
    res = await http({"url": server.url + "/private", "outputs": [{"name": "n", "fromExpression": "response.status"}]})
    assert server.seen[-1].headers["Authorization"] == "Bearer tok-123"
    assert "tok-123" not in res.model_dump_json()
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_1_USERNAME", "bot")
    await http({"url": server.url + "/private"})
    assert server.seen[-1].headers["Authorization"] == "Basic " + base64.b64encode(b"bot:tok-123").decode()
    await http({"url": server.url + "/other", "successExpression": "true"})
    assert "Authorization" not in server.seen[-1].headers  # other URLs get nothing


async def test_config_errors_name_the_field(server: Server) -> None:
    cases = [
        ({}, "url"),
        ({"url": "ftp://x/y"}, "url"),
        ({"url": server.url, "method": "FETCH"}, "method"),
        ({"url": server.url, "body": "a", "bodyFromFile": "b"}, "bodyFromFile"),
        ({"url": server.url, "timeout": "soon"}, "timeout"),
        ({"url": server.url, "pollInterval": "5 minutes"}, "pollInterval"),
        ({"url": server.url, "successExpression": "response.status =="}, "successExpression"),
        ({"url": server.url, "outputs": [{"name": "x"}]}, "outputs[0].fromExpression"),
        ({"url": server.url, "headers": [{"name": "A"}]}, "headers[0].value"),
        ({"url": server.url, "responseContentType": "text/html"}, "responseContentType"),
        ({"url": server.url, "retries": 3}, "retries"),
    ]
    for cfg, field_name in cases:
        with pytest.raises(ApplicationError) as e:
            await http(cfg)
        assert e.value.type == STEP_FAILED and field_name in str(e.value), (cfg, str(e.value))
    assert server.seen == []  # nothing was sent for a bad config


async def test_expression_evaluation_errors_are_retryable(server: Server) -> None:
    server.routes["/j"] = Reply(200, {"a": None})
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/j", "successExpression": "response.body.a.b == 1"})
    assert not e.value.non_retryable and "successExpression" in str(e.value)
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/j", "successExpression": "response.status"})
    assert "boolean" in str(e.value)


async def test_body_from_file_and_timeout(server: Server, promo: str) -> None:
    (workdir(promo) / "payload.json").write_text('{"from": "file"}')
    server.routes["/echo"] = lambda req: Reply(200, {"got": req.body.decode()})
    res = await http({"url": server.url + "/echo", "method": "PUT", "bodyFromFile": "payload.json",
                      "outputs": [{"name": "got", "fromExpression": "response.body.got"}]}, promotion=promo)
    assert res.outputs["got"] == '{"from": "file"}'
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/echo", "bodyFromFile": "missing.json"}, promotion=promo)
    assert "bodyFromFile" in str(e.value)

    import time

    def slow(req: Seen) -> Reply:
        time.sleep(1.5)
        return Reply(200, {})

    server.routes["/slow"] = slow
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/slow", "timeout": "300ms"})
    assert not e.value.non_retryable and "Timeout" in str(e.value)


def test_canonical_header() -> None:
    assert canonical_header("x-request-id") == "X-Request-Id"
    assert canonical_header("CONTENT-TYPE") == "Content-Type"


# ---------------------------------------------------------------- http-download


async def download(promo: str, cfg: dict, alias: str = "dl"):
    return await env.run(http_download, step(promo, "http-download", cfg, alias=alias))


async def test_download_streams_to_file_atomically(server: Server, promo: str) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    server.routes["/files/chart.tgz"] = lambda req: Reply(200, payload if req.query.get("v") == ["2"] else b"wrong")
    res = await download(promo, {
        "url": server.url + "/files/chart.tgz",
        "outPath": "charts/chart.tgz",
        "queryParams": [{"name": "v", "value": "2"}],
        "headers": [{"name": "Accept", "value": "application/octet-stream"}],
    })
    target = workdir(promo) / "charts/chart.tgz"
    assert target.read_bytes() == payload and str(len(payload)) in res.message
    assert server.seen[-1].headers["Accept"] == "application/octet-stream"
    assert not [p for p in target.parent.iterdir() if p.name != "chart.tgz"]


async def test_download_overwrite_and_idempotent_retry(server: Server, promo: str) -> None:
    server.routes["/a"] = Reply(200, b"v1")
    cfg = {"url": server.url + "/a", "outPath": "a.txt"}
    await download(promo, cfg)
    res = await download(promo, cfg)  # the same step retried: already done, no request
    assert "already downloaded" in res.message and len(server.seen) == 1
    for other, alias in [({**cfg, "url": server.url + "/a?x=1"}, "dl"), (cfg, "other-step")]:
        with pytest.raises(ApplicationError) as e:
            await download(promo, other, alias=alias)
        assert e.value.type == STEP_FAILED and "outPath" in str(e.value) and "allowOverwrite" in str(e.value)
    (workdir(promo) / "a.txt").write_text("edited by hand")
    with pytest.raises(ApplicationError):
        await download(promo, cfg)  # no longer the file this step wrote
    server.routes["/a"] = Reply(200, b"v2")
    await download(promo, {**cfg, "allowOverwrite": True})
    assert (workdir(promo) / "a.txt").read_text() == "v2"


async def test_download_errors(server: Server, promo: str) -> None:
    server.routes["/busy"] = Reply(503, b"later")
    with pytest.raises(ApplicationError) as e:
        await download(promo, {"url": server.url + "/busy", "outPath": "x"})
    assert not e.value.non_retryable and "503" in str(e.value)
    assert not (workdir(promo) / "x").exists() and list(workdir(promo).glob(".x.*")) == []
    for cfg, field_name in [
        ({"outPath": "x"}, "url"),
        ({"url": server.url}, "outPath"),
        ({"url": server.url, "outPath": "/etc/passwd"}, "outPath"),
        ({"url": server.url, "outPath": "x", "method": "POST"}, "method"),
    ]:
        with pytest.raises(ApplicationError) as e:
            await download(promo, cfg)
        assert e.value.type == STEP_FAILED and field_name in str(e.value), (cfg, str(e.value))
    with pytest.raises(ApplicationError) as e:
        await env.run(http_download, step("lost", "http-download", {"url": server.url, "outPath": "x"}))
    assert e.value.type == WORKDIR_LOST


async def test_download_uses_http_credentials(server: Server, promo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/p"] = lambda req: Reply(200 if req.headers.get("Authorization") == "Bearer t0k" else 403, b"ok")
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_1_URL", server.url)
    monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_1_TOKEN", "t0k")
    res = await download(promo, {"url": server.url + "/p", "outPath": "p"})
    assert (workdir(promo) / "p").read_bytes() == b"ok" and "t0k" not in res.model_dump_json()
