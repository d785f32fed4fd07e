"""A real git smart-HTTP server that demands basic auth: ``git http-backend`` (git's own
CGI) behind a small loopback HTTP server, so credentials go through git's askpass path
end to end.

    with GitHTTPServer(root=bare.parent, username="bot", password="pw") as server:
        url = server.url_for(bare)   # http://127.0.0.1:<port>/<bare name>
"""

from __future__ import annotations

import base64
import os
import subprocess
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve_git(handler: BaseHTTPRequestHandler, root: Path, path: str, query: str, body: bytes, *, user: str) -> None:
    """Answer one smart-HTTP request with git's own CGI (`git http-backend`) over `root`."""
    cgi_env = {
        "PATH": os.environ["PATH"],
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REMOTE_USER": user,
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
    }
    out = subprocess.run(["git", "http-backend"], input=body, env=cgi_env, capture_output=True, timeout=60).stdout
    head, _, payload = out.partition(b"\r\n\r\n")
    status, headers = 200, []
    for line in head.decode().split("\r\n"):
        k, _, v = line.partition(":")
        if k.lower() == "status":
            status = int(v.strip().split()[0])
        elif k:
            headers.append((k, v.strip()))
    handler.send_response(status)
    for k, v in headers:
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


class _GitHTTP(BaseHTTPRequestHandler):
    """Basic auth in front of git's own smart-HTTP CGI."""

    root: Path
    username: str
    password: str

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        serve_git(self, self.root, path, query, body, user=self.username)

    do_GET = do_POST = _handle


class GitHTTPServer:
    """Serves the repositories under ``root`` at ``http://127.0.0.1:<port>/<path>``, or
    over HTTPS with ``tls`` = (certificate file, key file)."""

    def __init__(self, root: Path, username: str, password: str, tls: tuple[Path, Path] | None = None):
        handler = type("GitHTTPHandler", (_GitHTTP,), {"root": root, "username": username, "password": password})
        self.root = root
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def url_for(self, repo: Path) -> str:
        return f"{self.base_url}/{repo.relative_to(self.root).as_posix()}"

    def __enter__(self) -> GitHTTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
