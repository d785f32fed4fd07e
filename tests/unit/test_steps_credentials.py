"""The credential store, and git steps over smart HTTP with basic auth.

The HTTP remote is real: ``git http-backend`` behind a small loopback server that
demands a username and password, so the askpass path is exercised end to end.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities import credentials  # noqa: E402
from activities.git_ops import Git, commit_url  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import git_push  # noqa: E402
from tests.gitrepos import Remote, git, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()
USER, PASSWORD = "bot", "s3cret-Pa55"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for k in list(os.environ):
        if k.startswith("GANTRY_") and "CREDENTIALS" in k:
            monkeypatch.delenv(k)
    return monkeypatch


def test_env_lookup_longest_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_URL", "https://github.com/example")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", "org")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "p1")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_2_URL", "https://GitHub.com/example/deploy-config.git")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_2_USERNAME", "repo")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_2_TOKEN", "p2")
    clean_env.setenv("GANTRY_HELM_CREDENTIALS_1_URL", "https://github.com/")
    clean_env.setenv("GANTRY_HELM_CREDENTIALS_1_USERNAME", "helm")
    assert credentials.lookup("https://github.com/example/deploy-config").username == "repo"
    assert credentials.lookup("https://github.com/example/deploy-config/").password == "p2"
    assert credentials.lookup("https://github.com/example/other.git").username == "org"
    assert credentials.lookup("https://github.com/example2/x") is None  # segment boundary
    assert credentials.lookup("https://github.com/example2/x", "helm").username == "helm"
    assert "p2" not in repr(credentials.lookup("https://github.com/example/deploy-config"))


def test_file_lookup_prefix_regex_and_password_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    f = tmp_path / "creds.yaml"
    f.write_text(
        f"""
credentials:
- url: https://git.corp/
  type: git
  username: corp
  password: pw
- urlRegex: ^https://gitlab\\.corp/team-.*$
  username: team
  passwordFile: {secret}
- url: oci://registry.corp/charts
  type: helm
  username: charts
  token: t
"""
    )
    clean_env.setenv("GANTRY_CREDENTIALS_FILE", str(f))
    assert credentials.lookup("https://git.corp/a/b.git").username == "corp"
    c = credentials.lookup("https://gitlab.corp/team-a/repo.git")
    assert (c.username, c.password) == ("team", "from-file")
    assert credentials.lookup("https://gitlab.corp/other/repo.git") is None
    assert credentials.lookup("oci://registry.corp/charts/app", "helm").password == "t"
    f.write_text("credentials:\n- url: x\n  type: nope\n")
    with pytest.raises(credentials.CredentialsError, match=r"credentials\[0\]\.type"):
        credentials.lookup("x")


def test_normalize_and_commit_url() -> None:
    assert credentials.normalize_url("git@github.com:example/repo.git") == "ssh://github.com/example/repo"
    assert credentials.normalize_url("https://u:p@Example.COM/a/") == "https://example.com/a"
    assert commit_url("https://github.com/o/r.git", "abc") == "https://github.com/o/r/commit/abc"
    assert commit_url("git@github.com:o/r.git", "abc") == "https://github.com/o/r/commit/abc"
    assert commit_url("https://gitlab.com/g/r", "abc") == "https://gitlab.com/g/r/-/commit/abc"
    assert commit_url("file:///tmp/r.git", "abc") == ""


def test_askpass_answers_from_the_process_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_A_URL", "https://h.example/")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_A_USERNAME", USER)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_A_PASSWORD", PASSWORD)
    g = Git(url="https://h.example/r.git")
    e = g.env()
    script = e["GIT_ASKPASS"]
    assert PASSWORD not in Path(script).read_text()
    assert not any(k.startswith("GANTRY_GIT_CREDENTIALS") for k in e)  # store vars kept from git
    ask = lambda prompt: subprocess.run([script, prompt], env=e, capture_output=True, text=True).stdout  # noqa: E731
    assert ask("Username for 'https://h.example': ") == f"{USER}\n"
    assert ask("Password for 'https://bot@h.example': ") == f"{PASSWORD}\n"
    assert Git(url="https://elsewhere/r.git").env().get("GIT_ASKPASS") is None


class _GitHTTP(BaseHTTPRequestHandler):
    """Basic auth in front of git's own smart-HTTP CGI."""

    root: Path

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cgi_env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": USER,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
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
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle


@pytest.fixture
def http_remote(remote: Remote) -> Iterator[str]:
    handler = type("H", (_GitHTTP,), {"root": remote.bare.parent})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{remote.bare.name}"
    finally:
        server.shutdown()
        server.server_close()


async def test_clone_and_push_over_http_with_credentials(
    promo: str, remote: Remote, http_remote: str, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_URL", http_remote.rsplit("/", 1)[0])
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", PASSWORD)
    cfg = {"repoURL": http_remote, "checkout": [{"branch": "main", "path": "./src"}]}
    res = await env.run(git_clone, step(promo, "git-clone", cfg))
    assert res.outputs["commits"]["./src"] == remote.sha()
    src = workdir(promo) / "src"
    assert PASSWORD not in (src / ".git/config").read_text()
    assert git("remote", "get-url", "origin", cwd=src) == http_remote
    (src / "over-http.txt").write_text("hi")
    await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "over http"}))
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert remote.sha() == res.outputs["commit"] and remote.log()[0] == "over http"


async def test_http_auth_failure_is_terminal_and_leaks_nothing(
    promo: str, http_remote: str, clean_env: pytest.MonkeyPatch
) -> None:
    cfg = {"repoURL": http_remote, "checkout": [{"branch": "main", "path": "./src"}]}
    with pytest.raises(ApplicationError) as e:  # no credentials configured
        await env.run(git_clone, step(promo, "git-clone", cfg))
    assert e.value.type == STEP_FAILED and "authentication" in str(e.value)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_URL", http_remote)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "wrong-" + PASSWORD)
    with pytest.raises(ApplicationError) as e:
        await env.run(git_clone, step(promo, "git-clone", cfg))
    assert e.value.type == STEP_FAILED and "authentication" in str(e.value)
    assert PASSWORD not in str(e.value)
