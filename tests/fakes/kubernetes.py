"""A loopback fake of the few Kubernetes API calls the job metric provider makes.

It keeps state (Jobs and one Pod per Job) and follows the public API's shapes for the
fields Gantry reads:

* ``POST   /apis/batch/v1/namespaces/{ns}/jobs``            -> 201 Job (409 AlreadyExists)
* ``GET    /apis/batch/v1/namespaces/{ns}/jobs/{name}``     -> Job with ``status``
* ``DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}``     -> 200 Status; its pods go too
* ``GET    /api/v1/namespaces/{ns}/pods?labelSelector=job-name=N`` -> PodList
* ``GET    /api/v1/namespaces/{ns}/pods/{pod}/log``         -> text/plain

Each Job completes after ``complete_after`` GETs of it: ``status.succeeded=1`` and a
``Complete`` condition when ``exit_code`` is 0, else ``status.failed=backoffLimit+1`` and a
``Failed`` condition (reason ``BackoffLimitExceeded``); its pod then is ``Succeeded`` /
``Failed`` with ``containerStatuses[0].state.terminated.exitCode``. While it runs, the pod's
log shows one more of ``output`` lines per GET of the Job. With ``token`` set, requests
without ``Authorization: Bearer <token>`` get 401.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeJob:
    body: dict[str, Any]
    exit_code: int
    output: list[str]
    complete_after: int
    polls: int = 0
    pod: str = ""


@dataclass
class FakeKubernetes:
    token: str | None = None
    complete_after: int = 2
    exit_code: int = 0
    output: list[str] = field(default_factory=lambda: ["running tests", "all passed"])
    jobs: dict[tuple[str, str], FakeJob] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ---- state

    def _job_view(self, j: FakeJob) -> dict[str, Any]:
        body = json.loads(json.dumps(j.body))
        backoff = (body.get("spec") or {}).get("backoffLimit", 6)
        status: dict[str, Any] = {"startTime": body["metadata"]["creationTimestamp"]}
        if j.polls >= j.complete_after:
            if j.exit_code == 0:
                status.update(succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
            else:
                status.update(
                    failed=backoff + 1,
                    conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                 "message": "Job has reached the specified backoff limit"}],
                )
        else:
            status["active"] = 1
        body["status"] = status
        return body

    def _pod_view(self, ns: str, j: FakeJob) -> dict[str, Any]:
        done = j.polls >= j.complete_after
        container = j.body["spec"]["template"]["spec"]["containers"][0]
        state: dict[str, Any] = (
            {"terminated": {"exitCode": j.exit_code, "reason": "Completed" if j.exit_code == 0 else "Error"}}
            if done else {"running": {"startedAt": _now()}}
        )
        return {
            "metadata": {"name": j.pod, "namespace": ns, "labels": {"job-name": j.body["metadata"]["name"]},
                         "creationTimestamp": j.body["metadata"]["creationTimestamp"]},
            "status": {
                "phase": ("Succeeded" if j.exit_code == 0 else "Failed") if done else "Running",
                "containerStatuses": [{"name": container.get("name", "main"), "state": state}],
            },
        }

    def _log(self, j: FakeJob) -> str:
        shown = j.output if j.polls >= j.complete_after else j.output[: j.polls]
        return "".join(line + "\n" for line in shown)

    # ---- HTTP

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        self.requests.append((method, path))
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return 401, _status(401, "Unauthorized", "Unauthorized")
        m = re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs(?:/([^/]+))?", path)
        if m:
            ns, name = m.group(1), m.group(2)
            if method == "POST" and name is None:
                job = json.loads(body)
                name = job["metadata"]["name"]
                if (ns, name) in self.jobs:
                    return 409, _status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
                job["metadata"].update(namespace=ns, uid=f"uid-{len(self.jobs) + 1}", creationTimestamp=_now())
                fj = FakeJob(job, self.exit_code, list(self.output), self.complete_after, pod=f"{name}-x{len(self.jobs):04d}")
                self.jobs[(ns, name)] = fj
                return 201, self._job_view(fj)
            fj = self.jobs.get((ns, name or ""))
            if fj is None:
                return 404, _status(404, "NotFound", f'jobs.batch "{name}" not found')
            if method == "GET":
                fj.polls += 1
                return 200, self._job_view(fj)
            if method == "DELETE":
                del self.jobs[(ns, name or "")]
                self.deleted.append((ns, name or ""))
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
            return 405, _status(405, "MethodNotAllowed", method)
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
        if m and method == "GET":
            ns = m.group(1)
            selector = (query.get("labelSelector") or [""])[0]
            wanted = selector.removeprefix("job-name=") if selector.startswith("job-name=") else None
            items = [self._pod_view(n, j) for (n, name), j in self.jobs.items()
                     if n == ns and (wanted is None or name == wanted)]
            return 200, {"kind": "PodList", "apiVersion": "v1", "items": items}
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path)
        if m and method == "GET":
            for (n, _), j in self.jobs.items():
                if n == m.group(1) and j.pod == m.group(2):
                    return 200, self._log(j)
            return 404, _status(404, "NotFound", f'pods "{m.group(2)}" not found')
        return 404, _status(404, "NotFound", "the server could not find the requested resource")

    def start(self) -> "FakeKubernetes":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                parts = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                with owner._lock:
                    status, reply = owner.handle(self.command, parts.path, parse_qs(parts.query),
                                                 {k.lower(): v for k, v in self.headers.items()}, raw)
                if isinstance(reply, str):
                    data, ctype = reply.encode(), "text/plain"
                else:
                    data, ctype = json.dumps(reply).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _any  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-kubernetes").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeKubernetes":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}
