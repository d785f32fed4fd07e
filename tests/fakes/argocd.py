"""A loopback fake of the parts of Argo CD's REST API (``/api/v1``) Gantry uses.

A threaded stdlib HTTP server keeping Applications in memory, shaped like Argo CD's
``v1alpha1.Application`` JSON: ``metadata{name, namespace, labels, annotations,
resourceVersion}``, ``spec{project, source | sources[], destination, syncPolicy}``,
``operation``, ``status{sync{status, revision, revisions}, health{status},
operationState{operation, phase, message, startedAt, finishedAt, syncResult}}``.

Endpoints (every one needs ``Authorization: Bearer <token>``, except session login):

* ``POST /api/v1/session`` ``{username, password}`` -> ``{token}``
* ``GET /api/v1/applications?selector=...&appNamespace=...`` -> ``{items: [...]}``
* ``GET /api/v1/applications/{name}?appNamespace=...&refresh=...``
* ``PUT /api/v1/applications/{name}`` with an Application body (spec, labels and
  annotations are taken; status is ignored, as Argo CD does)
* ``POST /api/v1/applications/{name}/sync`` with an ApplicationSyncRequest
  (``appNamespace``, ``revision``, ``revisions``, ``infos[]{name, value}``,
  ``syncOptions{items}``, ``retryStrategy``): starts an operation. Like Argo CD, a sync
  while another operation runs is refused with HTTP 400, "another operation is
  already in progress", as Argo CD does.

Sync model: a sync sets ``operation`` and ``status.operationState.phase: Running``
(health Progressing, sync OutOfSync). After ``gets_to_sync`` further GETs of the app it
(single GETs, or lists that include it) completes: ``phase: Succeeded`` with ``syncResult.revision(s)``, ``sync.status: Synced``
at the new revision(s), ``health: Healthy``. ``fail_next_sync`` makes the next one end
``Failed`` (health Degraded). A source's revision is ``resolve[targetRevision]`` when
set, else the targetRevision itself.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

AUTHORIZED_STAGE = "kargo.akuity.io/authorized-stage"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class FakeArgoCD:
    token: str = "argocd-test-token"
    users: dict[str, str] = field(default_factory=lambda: {"admin": "admin-password"})
    gets_to_sync: int = 2
    fail_next_sync: bool = False
    resolve: dict[str, str] = field(default_factory=dict)
    apps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    url: str = ""
    _pending: dict[tuple[str, str], int] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _version: int = 1

    # ---- test-side helpers -------------------------------------------------
    def add_app(
        self,
        name: str,
        *,
        namespace: str = "argocd",
        source: dict[str, Any] | None = None,
        sources: list[dict[str, Any]] | None = None,
        authorized_stage: str | None = None,
        labels: dict[str, str] | None = None,
        sync_policy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        annotations = {AUTHORIZED_STAGE: authorized_stage} if authorized_stage else {}
        spec: dict[str, Any] = {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": name}}
        if sources is not None:
            spec["sources"] = copy.deepcopy(sources)
        else:
            spec["source"] = copy.deepcopy(source or {"repoURL": "https://git.example.com/app.git", "path": ".", "targetRevision": "HEAD"})
        if sync_policy:
            spec["syncPolicy"] = sync_policy
        app = {
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}), "annotations": annotations,
                         "resourceVersion": self._next_version()},
            "spec": spec,
            "status": {"sync": {"status": "Unknown"}, "health": {"status": "Healthy"}},
        }
        with self.lock:
            self.apps[(namespace, name)] = app
        return app

    def app(self, name: str, namespace: str = "argocd") -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.apps[(namespace, name)])

    def set_operation(self, name: str, operation_state: dict[str, Any] | None, namespace: str = "argocd") -> None:
        with self.lock:
            self.apps[(namespace, name)]["status"]["operationState"] = operation_state

    # ---- model -------------------------------------------------------------
    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _revisions(self, app: dict[str, Any]) -> list[str]:
        srcs = app["spec"].get("sources") or [app["spec"].get("source") or {}]
        return [self.resolve.get(s.get("targetRevision", "HEAD"), s.get("targetRevision", "HEAD")) for s in srcs]

    def _advance(self, key: tuple[str, str]) -> None:
        if key not in self._pending:
            return
        self._pending[key] -= 1
        if self._pending[key] > 0:
            return
        del self._pending[key]
        app = self.apps[key]
        state = app["status"]["operationState"]
        revisions = self._revisions(app)
        failed = state.pop("_fail", False)
        multi = "sources" in app["spec"]
        result: dict[str, Any] = {"revision": revisions[0]}
        if multi:
            result = {"revisions": revisions, "sources": copy.deepcopy(app["spec"]["sources"])}
        else:
            result["source"] = copy.deepcopy(app["spec"]["source"])
        state.update(phase="Failed" if failed else "Succeeded", finishedAt=_now(), syncResult=result,
                     message="one or more objects failed to apply" if failed else "successfully synced (all tasks run)")
        app.pop("operation", None)
        app["status"]["reconciledAt"] = state["finishedAt"]  # the controller reconciles right after
        if failed:
            app["status"]["health"] = {"status": "Degraded"}
            app["status"]["sync"] = {"status": "OutOfSync"}
        else:
            sync = {"status": "Synced"}
            sync.update({"revisions": revisions} if multi else {"revision": revisions[0]})
            app["status"]["sync"] = sync
            app["status"]["health"] = {"status": "Healthy"}
        app["metadata"]["resourceVersion"] = self._next_version()

    def _sync(self, key: tuple[str, str], req: dict[str, Any]) -> dict[str, Any]:
        app = self.apps[key]
        current = app["status"].get("operationState") or {}
        if current.get("phase") in ("Running", "Terminating"):
            raise _Error(400, 9, "another operation is already in progress")
        operation = {
            "sync": {k: req[k] for k in ("revision", "revisions", "prune", "syncOptions") if k in req},
            "initiatedBy": {"username": "admin"},
            "info": req.get("infos") or [],
        }
        if req.get("retryStrategy"):
            operation["retry"] = req["retryStrategy"]
        app["operation"] = operation
        app["status"]["operationState"] = {"operation": copy.deepcopy(operation), "phase": "Running",
                                           "message": "", "startedAt": _now()}
        if self.fail_next_sync:
            app["status"]["operationState"]["_fail"] = True
            self.fail_next_sync = False
        app["status"]["health"] = {"status": "Progressing"}
        app["status"]["sync"] = {"status": "OutOfSync"}
        app["metadata"]["resourceVersion"] = self._next_version()
        self._pending[key] = self.gets_to_sync
        self.syncs.append({"app": key[1], "namespace": key[0], **copy.deepcopy(req)})
        return app

    # ---- server ------------------------------------------------------------
    def start(self, tls: "ssl.SSLContext | None" = None) -> "FakeArgoCD":
        """Serve on 127.0.0.1; over TLS (an https URL) with ``tls``, a server-side context."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append((method, self.path))
                try:
                    if method == "POST" and parts.path == "/api/v1/session":
                        body = self._body()
                        if fake.users.get(body.get("username")) != body.get("password") or not body.get("username"):
                            raise _Error(401, 16, "Invalid username or password")
                        return self._reply(200, {"token": fake.token})
                    if self.headers.get("Authorization") != f"Bearer {fake.token}":
                        raise _Error(401, 16, "no session information")
                    with fake.lock:
                        self._route(method, parts.path, q)
                except _Error as e:
                    self._reply(e.status, {"error": e.message, "code": e.code, "message": e.message})

            def _route(self, method: str, path: str, q: dict[str, str]) -> None:
                if method == "GET" and path == "/api/v1/applications":
                    ns = q.get("appNamespace", "argocd")
                    keys = [k for k, a in sorted(fake.apps.items())
                            if k[0] == ns and _selects(q.get("selector", ""), a["metadata"].get("labels") or {})]
                    for k in keys:  # a list counts as a GET of each listed app
                        fake._advance(k)
                    items = [copy.deepcopy(fake.apps[k]) for k in keys]
                    return self._reply(200, {"metadata": {}, "items": items})
                m = re.fullmatch(r"/api/v1/applications/([^/]+)(/sync)?", path)
                if not m:
                    raise _Error(404, 5, f"no route for {path}")
                name = unquote(m.group(1))
                if method == "PUT" and not m.group(2):
                    body = self._body()
                    ns = (body.get("metadata") or {}).get("namespace") or q.get("appNamespace", "argocd")
                    key = (ns, name)
                    if key not in fake.apps:
                        raise _Error(404, 5, f'applications.argoproj.io "{name}" not found')
                    app = fake.apps[key]
                    app["spec"] = copy.deepcopy(body["spec"])
                    meta = body.get("metadata") or {}
                    app["metadata"]["annotations"] = dict(meta.get("annotations") or {})
                    app["metadata"]["labels"] = dict(meta.get("labels") or {})
                    app["metadata"]["resourceVersion"] = fake._next_version()
                    return self._reply(200, copy.deepcopy(app))
                key = (q.get("appNamespace", "argocd"), name)
                if method == "POST" and m.group(2):
                    body = self._body()
                    key = (body.get("appNamespace") or key[0], name)
                    if key not in fake.apps:
                        raise _Error(404, 5, f'applications.argoproj.io "{name}" not found')
                    return self._reply(200, copy.deepcopy(fake._sync(key, body)))
                if method == "GET" and not m.group(2):
                    if key not in fake.apps:
                        raise _Error(404, 5, f'applications.argoproj.io "{name}" not found')
                    fake._advance(key)
                    return self._reply(200, copy.deepcopy(fake.apps[key]))
                raise _Error(405, 12, "method not allowed")

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Error(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label selector text: ``k=v``, ``k!=v``, ``k in (a,b)``, ``k notin (a)``,
    ``k``, ``!k``, joined by commas (outside parentheses)."""
    if not selector:
        return True
    for req in re.split(r",(?![^()]*\))", selector):
        req = req.strip()
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", req):
            values = {v.strip() for v in m.group(3).split(",")}
            inside = m.group(1) in labels and labels[m.group(1)] in values
            if inside != (m.group(2) == "in"):
                return False
        elif m := re.fullmatch(r"(\S+?)\s*(==|=|!=)\s*(\S*)", req):
            equal = labels.get(m.group(1)) == m.group(3)
            if equal != (m.group(2) != "!="):
                return False
        elif req.startswith("!"):
            if req[1:] in labels:
                return False
        elif req not in labels:
            return False
    return True
