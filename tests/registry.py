"""A real OCI registry for tests: the Debian package ``docker-registry`` (distribution 2.x).

Two session-scoped fixtures, each a ``docker-registry serve`` on a loopback port with
filesystem storage in a temporary directory:

* ``registry``: token authentication, like Docker Hub or GHCR. A small token service
  (stdlib HTTP server, this module) signs JWTs with a throwaway RSA key made by
  ``openssl``; it gives anonymous pull access to repositories under ``public/`` and
  pull+push to everything for ``USER``/``PASSWORD``.
* ``basic_registry``: htpasswd (``WWW-Authenticate: Basic``) for ``USER``/``PASSWORD``.

Both skip (with the reason) when the binary is missing, so a machine without the
package still passes. ``push_artifact`` uploads an artifact through the API with httpx
(monolithic blob upload POST + PUT, config blob, manifest PUT); ``push_tags`` tags many
manifests over one config and layer, concurrently.

Import the fixtures into a test module: ``from tests.registry import registry, Registry``.
Outside pytest (benches), ``token_registry()`` and ``htpasswd_registry()`` are the same
registries as context managers; ``token_registry_missing()`` says why one cannot start.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

BINARIES = ("docker-registry", "registry")
USER, PASSWORD = "ci-bot", "s3cret-registry-pw"
SERVICE, ISSUER = "gantry-test-registry", "gantry-test-token-issuer"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    token_url: str = ""  # the token service (token-auth registries only)
    basic: bool = False

    def auth_for_push(self, repository: str) -> dict[str, str]:
        if self.token_url:
            r = httpx.get(
                self.token_url,
                params={"service": SERVICE, "scope": f"repository:{repository}:pull,push"},
                auth=(USER, PASSWORD),
            )
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['token']}"}
        if self.basic:
            return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
        return {}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _TokenService:
    """Signs registry JWTs (RS256 with an x5c header) using the openssl binary."""

    def __init__(self, tmp: Path) -> None:
        self.key = tmp / "token.key"
        self.cert = tmp / "token.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key), "-out", str(self.cert),
             "-days", "2", "-subj", "/CN=gantry-test-token"],
            check=True, capture_output=True,
        )
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[dict] = []

    def sign(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 600, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(), check=True, capture_output=True
        ).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def grant(self, scope: str, authenticated: bool) -> list[dict]:
        access = []
        for item in scope.split(" "):
            parts = item.split(":")
            if len(parts) != 3 or parts[0] != "repository":
                continue
            name, actions = parts[1], parts[2].split(",")
            allowed = actions if authenticated else [a for a in actions if a == "pull" and name.startswith("public/")]
            if allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                q = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                authenticated = False
                if auth.startswith("Basic "):
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    if (user, pw) != (USER, PASSWORD):
                        self.send_response(401)
                        self.end_headers()
                        return
                    authenticated = True
                scope = q.get("scope", [""])[0]
                service.requests.append({"scope": scope, "service": q.get("service", [""])[0], "authenticated": authenticated})
                token = service.sign(USER if authenticated else "", service.grant(scope, authenticated))
                body = json.dumps({"token": token, "expires_in": 600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/token"


def _start(binary: str, tmp: Path, auth: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = tmp / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: gantry-test-secret\n"
        + auth
    )
    log = open(tmp / "registry.log", "wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {(tmp / 'registry.log').read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
            return proc, f"127.0.0.1:{port}"
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"docker-registry did not answer on port {port}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


_NO_BINARY = "docker-registry binary not found (install the Debian package 'docker-registry')"


def token_registry_missing() -> str | None:
    """Why a token-auth registry cannot start here, or None."""
    if _binary() is None:
        return _NO_BINARY
    if shutil.which("openssl") is None:
        return "openssl not found (needed to sign registry tokens)"
    return None


@contextmanager
def token_registry() -> Iterator[Registry]:
    """A token-auth registry (see the module docstring) until the block ends."""
    reason = token_registry_missing()
    if reason:
        raise RuntimeError(reason)
    tmp = Path(tempfile.mkdtemp(prefix="gantry-registry-"))
    tokens = _TokenService(tmp)
    server, token_url = tokens.serve()
    auth = (
        "auth:\n  token:\n"
        f"    realm: {token_url}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {tokens.cert}\n"
    )
    try:
        proc, host = _start(str(_binary()), tmp, auth)
        try:
            reg = Registry(host=host, token_url=token_url)
            reg.tokens = tokens  # type: ignore[attr-defined]
            yield reg
        finally:
            _stop(proc)
    finally:
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def _bcrypt_password() -> tuple[str | None, str]:
    """(htpasswd hash, "") or (None, why there is none)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # bcrypt for htpasswd; the module is gone in Python 3.13
        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))  # cost 4: fast tests
    except (ImportError, AttributeError, ValueError):
        return None, "no bcrypt implementation (Python's crypt module) to write an htpasswd file"
    if not hashed or not hashed.startswith("$2"):
        return None, "the C library's crypt() has no bcrypt"
    return hashed, ""


def htpasswd_registry_missing() -> str | None:
    """Why a basic-auth registry cannot start here, or None."""
    if _binary() is None:
        return _NO_BINARY
    return _bcrypt_password()[1] or None


@contextmanager
def htpasswd_registry() -> Iterator[Registry]:
    """A basic-auth (htpasswd) registry until the block ends."""
    hashed, reason = _bcrypt_password()
    if _binary() is None or hashed is None:
        raise RuntimeError(reason or _NO_BINARY)
    tmp = Path(tempfile.mkdtemp(prefix="gantry-registry-basic-"))
    (tmp / "htpasswd").write_text(f"{USER}:{hashed}\n")
    auth = f"auth:\n  htpasswd:\n    realm: gantry-test\n    path: {tmp / 'htpasswd'}\n"
    try:
        proc, host = _start(str(_binary()), tmp, auth)
        try:
            yield Registry(host=host, basic=True)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def registry():
    reason = token_registry_missing()
    if reason:
        pytest.skip(reason)
    with token_registry() as reg:
        yield reg


@pytest.fixture(scope="session")
def basic_registry():
    reason = htpasswd_registry_missing()
    if reason:
        pytest.skip(reason)
    with htpasswd_registry() as reg:
        yield reg


@dataclass
class Pushed:
    digest: str
    size: int


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(reg: Registry, repository: str, data: bytes, headers: dict[str, str]) -> str:
    """Monolithic upload: POST to open an upload session, PUT the content with its digest."""
    digest = _digest(data)
    base = f"http://{reg.host}/v2/{repository}"
    r = httpx.post(f"{base}/blobs/uploads/", headers=headers)
    assert r.status_code == 202, (r.status_code, r.text)
    location = r.headers["Location"]
    if location.startswith("/"):
        location = f"http://{reg.host}{location}"
    location += ("&" if "?" in location else "?") + "digest=" + digest
    put = httpx.put(
        location,
        content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 201, (put.status_code, put.text)
    return digest


def push_artifact(
    reg: Registry,
    repository: str,
    tag: str,
    layers: list[tuple[bytes, str]],
    *,
    artifact_type: str = "",
    config: bytes | None = None,
    config_media_type: str = OCI_IMAGE_CONFIG,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """Push an OCI artifact with the given (content, mediaType) layers; return the
    manifest's digest and size. Without ``config`` the config is the empty ``{}``
    descriptor; with it, ``config`` is pushed as a ``config_media_type`` blob (e.g. an
    image config with ``created``, ``os`` and ``architecture``)."""
    headers = reg.auth_for_push(repository)
    config_type = config_media_type if config is not None else OCI_EMPTY_CONFIG
    config = b"{}" if config is None else config
    config_digest = push_blob(reg, repository, config, headers)
    descriptors = []
    for data, media_type in layers:
        descriptors.append({"mediaType": media_type, "digest": push_blob(reg, repository, data, headers), "size": len(data)})
    manifest: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
        "layers": descriptors,
    }
    if artifact_type:
        manifest["artifactType"] = artifact_type
    if annotations:
        manifest["annotations"] = annotations
    body = json.dumps(manifest).encode()
    r = httpx.put(
        f"http://{reg.host}/v2/{repository}/manifests/{tag}",
        content=body,
        headers={**headers, "Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return Pushed(_digest(body), len(body))


def push_index(
    reg: Registry,
    repository: str,
    tag: str,
    manifests: list[tuple[str, int, dict]],
    *,
    annotations: dict[str, str] | None = None,
) -> str:
    """Push an OCI image index over already pushed manifests ``(digest, size, platform)``."""
    headers = reg.auth_for_push(repository)
    index: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": s, "platform": p} for d, s, p in manifests],
    }
    if annotations:
        index["annotations"] = annotations
    body = json.dumps(index).encode()
    r = httpx.put(
        f"http://{reg.host}/v2/{repository}/manifests/{tag}",
        content=body,
        headers={**headers, "Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return _digest(body)


def image_config(created: str | None = None, os: str = "linux", architecture: str = "amd64", **extra: object) -> bytes:
    """An OCI image config blob (the fields discovery reads)."""
    doc: dict = {"architecture": architecture, "os": os, "rootfs": {"type": "layers", "diff_ids": []}, **extra}
    if created:
        doc["created"] = created
    return json.dumps(doc).encode()


async def push_tags(
    reg: Registry,
    repository: str,
    tags: list[str],
    *,
    config: bytes | None = None,
    config_media_type: str = OCI_IMAGE_CONFIG,
    concurrency: int = 8,
) -> dict[str, str]:
    """Tag many manifests fast: one config and one layer blob, then one manifest PUT per
    tag (each manifest names its tag in an annotation, so digests differ), ``concurrency``
    at a time. Returns tag -> manifest digest."""
    headers = reg.auth_for_push(repository)
    config_type = config_media_type if config is not None else OCI_EMPTY_CONFIG
    config = b"{}" if config is None else config
    layer = b"layer for " + repository.encode()
    config_digest = await asyncio.to_thread(push_blob, reg, repository, config, headers)
    layer_digest = await asyncio.to_thread(push_blob, reg, repository, layer, headers)
    sem = asyncio.Semaphore(concurrency)
    digests: dict[str, str] = {}

    async def put(client: httpx.AsyncClient, tag: str) -> None:
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest, "size": len(layer)}],
            "annotations": {"org.opencontainers.image.version": tag},
        }
        body = json.dumps(manifest).encode()
        async with sem:
            r = await client.put(
                f"http://{reg.host}/v2/{repository}/manifests/{tag}",
                content=body,
                headers={**headers, "Content-Type": OCI_MANIFEST},
            )
        assert r.status_code == 201, (tag, r.status_code, r.text)
        digests[tag] = _digest(body)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(put(client, t) for t in tags))
    return digests


@contextmanager
def paginating_proxy(reg: Registry) -> Iterator[tuple[Registry, list[str]]]:
    """A loopback front for ``reg`` that pages ``/tags/list`` itself, as Docker Hub and
    distribution 3 do (``?n=``, ``?last=``, a relative ``Link: <...>; rel="next"``);
    distribution 2.8 ignores ``n``. Every other GET is relayed as it is. Yields the
    front as a Registry and the list of tag-list request paths it answered."""
    upstream = f"http://{reg.host}"
    seen: list[str] = []
    relay_headers = ("content-type", "docker-content-digest", "www-authenticate")
    client = httpx.Client(timeout=30)  # one client: making one per request costs ~20 ms

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")}
            r = client.get(upstream + parts.path, headers=headers)
            relayed = {k: v for k, v in r.headers.items() if k.lower() in relay_headers}
            if not (parts.path.endswith("/tags/list") and r.status_code == 200):
                self._send(r.status_code, r.content, relayed)
                return
            seen.append(self.path)
            name = parts.path[len("/v2/"):-len("/tags/list")]
            q = parse_qs(parts.query)
            tags = sorted(r.json().get("tags") or [])
            last, n = q.get("last", [""])[0], int(q.get("n", ["0"])[0]) or len(tags) or 1
            rest = [t for t in tags if t > last] if last else tags
            page = rest[:n]
            out = {"Content-Type": "application/json"}
            if len(rest) > n:
                out["Link"] = f'</v2/{name}/tags/list?n={n}&last={page[-1]}>; rel="next"'
            self._send(200, json.dumps({"name": name, "tags": page}).encode(), out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield Registry(host=f"127.0.0.1:{server.server_address[1]}", token_url=reg.token_url, basic=reg.basic), seen
    finally:
        server.shutdown()
        server.server_close()
        client.close()
