"""Stored credentials reach only the servers they name, through the steps, metric
providers and discovery as a promotion runs them.

Every server here is a real loopback HTTP server that records the ``Authorization``
header of each request it gets. "Another host" is 127.0.0.2 (Linux routes all of
127.0.0.0/8 to loopback), so a registry on 127.0.0.1 and a realm on 127.0.0.2 are two
hosts as far as any URL comparison goes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.discovery.images import discover_images
from activities.metrics.base import MeasureRequest
from activities.metrics.web import measure_web
from activities.steps.base import STEP_FAILED, workdir
from activities.steps.http_download import http_download
from activities.steps.http_request import http_request
from activities.steps.oci_download import oci_download
from tests.gitrepos import promo, step, work_root  # noqa: F401  (fixtures)
from workflows.messages import DiscoveryRequest

env = ActivityEnvironment()
SECRET = "s3cret-t0ken-value"
USER, PASSWORD = "robot", "pa55@w0rd"
FOREIGN = "127.0.0.2"


@dataclass
class Hit:
    method: str
    path: str  # as sent on the wire (absolute-form for a proxy)
    auth: str


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Recorder:
    """A loopback server: ``answer(method, path, headers)`` decides each reply."""

    answer: Callable[[str, str, dict[str, str]], Answer] = lambda m, p, h: (200, {}, b"{}")
    host: str = "127.0.0.1"
    hits: list[Hit] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.hits.append(Hit(self.command, self.path, headers.get("authorization", "")))
                status, extra, body = owner.answer(self.command, self.path, headers)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = _any  # noqa: N815

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.netloc = f"{self.host}:{self.httpd.server_address[1]}"
        self.url = f"http://{self.netloc}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def authorized(self) -> list[Hit]:
        return [h for h in self.hits if h.auth]


@pytest.fixture
def servers() -> Iterator[Callable[..., Recorder]]:
    made: list[Recorder] = []

    def make(answer=None, host: str = "127.0.0.1") -> Recorder:
        r = Recorder(answer, host) if answer else Recorder(host=host)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch):
    """Set one credential group in the environment: ``store(type, url, **suffixes)``."""
    for k in list(os.environ):
        if (k.startswith("GANTRY_") and "CREDENTIALS" in k) or k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(k)

    def put(kind: str, url: str, n: str = "1", **extra: str) -> None:
        prefix = f"GANTRY_{kind.upper()}_CREDENTIALS_{n}_"
        monkeypatch.setenv(prefix + "URL", url)
        for k, v in extra.items():
            monkeypatch.setenv(prefix + k.upper(), v)

    return put


async def http(promotion: str, cfg: dict):
    return await env.run(http_request, step(promotion, "http", cfg))


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("path", ["/org-a/../org-b/hook", "/org-a/%2e%2e/org-b/hook", "/org-a/..%2Forg-b/hook"])
async def test_path_scoped_credential_does_not_reach_a_sibling(promo: str, servers, store, path: str) -> None:
    server = servers()
    store("http", f"{server.url}/org-a", token=SECRET)
    res = await http(promo, {"url": server.url + path})
    assert res.status == "Succeeded"
    assert server.hits and not server.authorized
    await http(promo, {"url": server.url + "/org-a/hook"})
    assert server.hits[-1].auth == f"Bearer {SECRET}"  # the credential itself works


async def test_credential_for_https_is_not_sent_over_http_or_to_another_port(promo: str, servers, store) -> None:
    a, b = servers(), servers()
    store("http", "https://" + a.netloc, token=SECRET)  # https only
    store("http", b.url + "/", n="2", token=SECRET)
    await http(promo, {"url": a.url + "/x"})
    port_b = int(b.netloc.rsplit(":", 1)[1])
    other_port = servers()  # same host, another port
    await http(promo, {"url": other_port.url + "/x"})
    assert a.hits and not a.authorized
    assert other_port.hits and not other_port.authorized and port_b != other_port.httpd.server_address[1]


# --------------------------------------------------------------------------- proxy


def _proxy(recorder_hits_ok: bool = True):
    """A forward proxy that answers for the origin itself (and records what it saw)."""
    return lambda m, p, h: (200, {"Content-Type": "application/json"}, b'{"via": "proxy"}')


async def test_step_proxy_is_bypassed_for_stored_credentials(promo: str, servers, store) -> None:
    target, proxy = servers(), servers(_proxy())
    store("http", target.url, token=SECRET)
    res = await http(promo, {"url": target.url + "/deploy", "proxy": proxy.url})
    assert res.status == "Succeeded"
    assert not proxy.hits  # the proxy the manifest named never saw the request
    assert target.hits[-1].auth == f"Bearer {SECRET}"
    # without a stored credential the step's proxy is used as before
    other = servers()
    await http(promo, {"url": other.url + "/anon", "proxy": proxy.url})
    assert proxy.hits and proxy.hits[-1].path == other.url + "/anon" and not proxy.hits[-1].auth


async def test_proxy_opt_in_lets_the_credential_through_the_proxy(promo: str, servers, store) -> None:
    target, proxy = servers(), servers(_proxy())
    store("http", target.url, token=SECRET, proxy="true")
    await http(promo, {"url": target.url + "/deploy", "proxy": proxy.url})
    assert proxy.hits[-1].auth == f"Bearer {SECRET}" and not target.hits


async def test_environment_proxy_is_bypassed_for_stored_credentials(
    promo: str, servers, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, proxy = servers(), servers(_proxy())
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    store("http", target.url, token=SECRET)
    res = await env.run(http_download, step(promo, "http-download", {"url": target.url + "/f", "outPath": "f"}))
    assert res.status == "Succeeded" and not proxy.hits and target.hits[-1].auth == f"Bearer {SECRET}"
    # the web metric provider too
    r = await env.run(measure_web, MeasureRequest(run="r", metric="m", provider={"web": {"url": target.url + "/m"}}))
    assert r.phase is None and not proxy.hits and target.hits[-1].auth == f"Bearer {SECRET}"
    # anonymous requests still use the operator's proxy
    anon = servers()
    await env.run(http_download, step(promo, "http-download", {"url": anon.url + "/g", "outPath": "g"}, alias="dl2"))
    assert proxy.hits and not anon.hits


# --------------------------------------------------------------------------- TLS off


async def test_tls_verification_off_is_refused_unless_the_credential_allows_it(promo: str, servers, store) -> None:
    server = servers()
    store("http", server.url, token=SECRET)
    with pytest.raises(ApplicationError) as e:
        await http(promo, {"url": server.url + "/x", "insecureSkipTLSVerify": True})
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert "GANTRY_HTTP_CREDENTIALS_1_INSECURE_SKIP_TLS_VERIFY=true" in str(e.value) and SECRET not in str(e.value)
    with pytest.raises(ApplicationError) as e:
        await env.run(
            http_download,
            step(promo, "http-download", {"url": server.url + "/f", "outPath": "f", "insecureSkipTLSVerify": True}),
        )
    assert e.value.type == STEP_FAILED and "INSECURE_SKIP_TLS_VERIFY" in str(e.value)
    r = await env.run(
        measure_web, MeasureRequest(run="r", metric="m", provider={"web": {"url": server.url + "/m", "insecure": True}})
    )
    assert r.phase == "Error" and "INSECURE_SKIP_TLS_VERIFY" in (r.message or "")
    assert not server.hits  # nothing was sent
    # the step's own Authorization header is not a stored credential: no refusal
    await http(promo, {"url": server.url + "/own", "insecureSkipTLSVerify": True,
                       "headers": [{"name": "Authorization", "value": "Bearer mine"}]})
    assert server.hits[-1].auth == "Bearer mine"
    store("http", server.url, token=SECRET, insecure_skip_tls_verify="true")
    res = await http(promo, {"url": server.url + "/x", "insecureSkipTLSVerify": True})
    assert res.status == "Succeeded" and server.hits[-1].auth == f"Bearer {SECRET}"


# --------------------------------------------------------------------------- redirects


async def test_redirect_to_another_origin_drops_the_credential(promo: str, servers, store) -> None:
    foreign = servers(host=FOREIGN)
    other_port = servers()

    def home_answer(m: str, p: str, h: dict[str, str]) -> Answer:
        if p == "/away":
            return 302, {"Location": foreign.url + "/landing"}, b""
        if p == "/port":
            return 307, {"Location": other_port.url + "/landing"}, b""
        if p == "/here":
            return 302, {"Location": "/landing"}, b""
        return 200, {"Content-Type": "application/json"}, b"{}"

    home = servers(home_answer)
    store("http", home.url, token=SECRET)
    for path in ("/away", "/port", "/here"):
        assert (await http(promo, {"url": home.url + path})).status == "Succeeded"
    assert foreign.hits and not foreign.authorized
    assert other_port.hits and not other_port.authorized
    assert home.hits[-1].path == "/landing" and home.hits[-1].auth == f"Bearer {SECRET}"  # same origin keeps it
    await env.run(http_download, step(promo, "http-download", {"url": home.url + "/away", "outPath": "f"}))
    assert len(foreign.hits) == 2 and not foreign.authorized


# --------------------------------------------------------------------------- OCI


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


LAYER = b"chart-bytes"
CONFIG = b"{}"
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(CONFIG), "size": len(CONFIG)},
    "layers": [{"mediaType": "application/x-tar", "digest": _digest(LAYER), "size": len(LAYER)}],
}).encode()


class FakeRegistry:
    """A token-auth registry for ``team/app`` that accepts only the token its realm
    hands out for the right basic credentials; the realm is ``realm`` (a Recorder)."""

    def __init__(self, servers, *, realm_host: str, blob_to: Recorder | None = None, link_to: Recorder | None = None):
        self.realm = servers(self._token, host=realm_host)
        self.blob_to, self.link_to = blob_to, link_to
        self.registry = servers(self._registry)

    def _token(self, m: str, p: str, h: dict[str, str]) -> Answer:
        import base64

        good = h.get("authorization") == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": "good" if good else "anon"}).encode()

    def _registry(self, m: str, p: str, h: dict[str, str]) -> Answer:
        if h.get("authorization") != "Bearer good":
            challenge = f'Bearer realm="{self.realm.url}/token",service="fake",scope="repository:team/app:pull"'
            return 401, {"WWW-Authenticate": challenge}, b""
        if p.startswith("/v2/team/app/tags/list"):
            headers = {"Content-Type": "application/json"}
            if self.link_to is not None and "last" not in p:
                headers["Link"] = f'<{self.link_to.url}/v2/team/app/tags/list?last=1.0.0>; rel="next"'
            return 200, headers, json.dumps({"name": "team/app", "tags": ["1.0.0"]}).encode()
        if p.startswith("/v2/team/app/manifests/"):
            return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, MANIFEST
        if p.startswith("/v2/team/app/blobs/"):
            digest = p.rsplit("/", 1)[1]
            if self.blob_to is not None:
                return 307, {"Location": f"{self.blob_to.url}/bucket/{digest}?sig=x"}, b""
            return 200, {}, LAYER if digest == _digest(LAYER) else CONFIG
        return 404, {}, b""


def _blob_store(m: str, p: str, h: dict[str, str]) -> Answer:
    return 200, {"Content-Type": "application/octet-stream"}, LAYER if _digest(LAYER) in p else CONFIG


def _discover(reg: FakeRegistry) -> DiscoveryRequest:
    return DiscoveryRequest(project="p", warehouse="w", kind="image", subscription={"repoURL": f"{reg.registry.netloc}/team/app"})


async def test_basic_credentials_are_not_sent_to_a_foreign_plain_http_realm(servers, store) -> None:
    reg = FakeRegistry(servers, realm_host=FOREIGN)
    store("image", f"{reg.registry.netloc}/team", username=USER, password=PASSWORD)
    with pytest.raises(ApplicationError) as e:
        await env.run(discover_images, _discover(reg))
    assert reg.realm.hits and not reg.realm.authorized  # asked anonymously
    message = str(e.value)
    assert "were not sent to the token service" in message and "tokenRealms" in message and PASSWORD not in message
    # even listed in tokenRealms, plain http to another host is refused
    store("image", f"{reg.registry.netloc}/team", username=USER, password=PASSWORD, token_realms=reg.realm.url)
    with pytest.raises(ApplicationError, match="never plain http"):
        await env.run(discover_images, _discover(reg))
    assert not reg.realm.authorized


async def test_realm_on_the_registrys_own_host_gets_the_credentials(servers, store) -> None:
    reg = FakeRegistry(servers, realm_host="127.0.0.1")  # another port, the registry's host and scheme
    store("image", f"{reg.registry.netloc}/team", username=USER, password=PASSWORD)
    out = await env.run(discover_images, _discover(reg))
    assert [r["tag"] for r in out["references"]] == ["1.0.0"]
    assert reg.realm.authorized


async def test_registry_authorization_stays_at_the_registry(promo: str, servers, store) -> None:
    bucket = servers(_blob_store, host=FOREIGN)
    elsewhere = servers(lambda m, p, h: (200, {"Content-Type": "application/json"}, b'{"tags": ["9.9.9"]}'), host=FOREIGN)
    reg = FakeRegistry(servers, realm_host="127.0.0.1", blob_to=bucket, link_to=elsewhere)
    store("image", f"{reg.registry.netloc}/team", username=USER, password=PASSWORD)
    # an S3-style redirect of a blob download: followed, without the registry's token
    res = await env.run(oci_download, step(promo, "oci-download", {"imageRef": f"{reg.registry.netloc}/team/app:1.0.0", "outPath": "a.tar"}))
    assert res.status == "Succeeded" and (workdir(promo) / "a.tar").read_bytes() == LAYER
    assert bucket.hits and not bucket.authorized
    # a tag list whose next page is on another origin: asked without the token
    await env.run(discover_images, _discover(reg))
    assert elsewhere.hits and not elsewhere.authorized
