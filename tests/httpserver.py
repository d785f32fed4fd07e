"""A scripted loopback HTTP server for step tests (stdlib, in a thread).

The test decides every answer: `script` is a list of (status, JSON body) pairs served in
order, one per request; once it runs out, `then` is served for every further request.
Each request is recorded with its arrival time (time.monotonic()), method and path.

    with ScriptedServer([(500, {}), (200, {"ok": True})]) as server:
        ... server.url ... server.count ...
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    at: float
    method: str
    path: str


@dataclass
class ScriptedServer:
    script: list[tuple[int, Any]] = field(default_factory=list)
    then: tuple[int, Any] = (200, {})
    requests: list[Seen] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _next(self, method: str, path: str) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(Seen(time.monotonic(), method, path))
            return self.script.pop(0) if self.script else self.then

    def start(self) -> "ScriptedServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, body = owner._next(self.command, self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
