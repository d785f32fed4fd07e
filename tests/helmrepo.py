"""A loopback HTTP Helm chart repository for tests: files by path (index.yaml, .tgz),
optionally behind basic auth with the registry fixtures' USER/PASSWORD."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.registry import PASSWORD, USER


@dataclass
class ChartRepo:
    """Files by path; with ``auth``, every request needs USER/PASSWORD basic auth."""

    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    auth: bool = False
    seen: list[str] = field(default_factory=list)
    url: str = ""

    def serve(self) -> ThreadingHTTPServer:
        repo = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                repo.seen.append(self.path)
                if repo.auth and self.headers.get("Authorization") != expected:
                    status, body = 401, b"unauthorized"
                else:
                    status, body = repo.files.get(self.path, (404, b"not found"))
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return server
