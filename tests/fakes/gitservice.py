"""The common half of the loopback Git hosting fakes (GitHub, GitLab, Gitea, Azure DevOps,
Bitbucket): real bare repositories served over git's smart HTTP (`git http-backend`), and
pull requests kept in memory whose merges really merge the branches in git.

A provider fake subclasses :class:`GitService` and implements :meth:`GitService.api`, the
service's REST paths, status codes, error bodies and pagination; everything else is here:

    with GitHubFake(tmp_path / "srv", token="t0ken") as gh:
        bare = gh.add_repo("org/app", source)         # a bare copy, served at gh.repo_url("org/app")
        ...                                            # the code under test opens a PR
        pr = gh.prs("org/app")[0]
        gh.merge("org/app", pr.number, by="reviewer") # a reviewer merges: a real git merge
        gh.rate_limit(2)                               # the next two API calls are refused (429/403)

Requests to the API must carry the token (`Authorization: Bearer|token <token>`, or basic auth
with it as password), as the services ask; git's own requests are served without auth.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.githttp import serve_git

GIT_PATHS = re.compile(r"/(info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.*)$")


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Reviewer", "GIT_AUTHOR_EMAIL": "reviewer@fake.test",
        "GIT_COMMITTER_NAME": "Reviewer", "GIT_COMMITTER_EMAIL": "reviewer@fake.test",
    }  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check, timeout=60)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PullRecord:
    """One pull request as the fake keeps it."""

    number: int
    repo: str
    source: str
    target: str
    title: str
    body: str = ""
    labels: list[str] = field(default_factory=list)
    state: str = "open"  # open, merged, closed
    merge_commit: str | None = None
    closed_by: str | None = None
    #: when it was merged or closed (RFC 3339 UTC)
    closed_at: str | None = None
    author: str = "gantry"
    created_at: str = field(default_factory=_now)
    #: set by a test: the service says checks are still running (not mergeable yet) this many times
    pending_checks: int = 0


class ApiError(Exception):
    """Raised by a fake's `api` to answer with `status` and the service's error `body`."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class GitService:
    """Bare repositories, pull requests, and an HTTP server for both. Thread-safe."""

    #: what a subclass answers a rate-limited call with: (status, headers, body)
    def rate_limited_response(self) -> tuple[int, dict[str, str], Any]:
        return 429, {"Retry-After": "1"}, {"message": "rate limited"}

    #: the port to listen on (0: a free one); tests/fakes/serve.py sets it
    port = 0

    def __init__(self, root: Path, token: str = "t0ken"):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.lock = threading.RLock()
        self.pulls: dict[str, list[PullRecord]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self._refuse = 0
        self._fail = (0, 502)
        handler = type("Handler", (_Handler,), {"service": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- the server ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def repo_url(self, repo: str) -> str:
        """The repoURL of `repo` (`owner/name`): the git remote and the web URL's base."""
        return f"{self.base_url}/{repo}.git"

    def web_url(self, repo: str) -> str:
        return f"{self.base_url}/{repo}"

    def __enter__(self) -> GitService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def is_git_request(self, path: str) -> bool:
        """Is `path` one of git's smart-HTTP requests (served by `git http-backend`), not
        an API call? By default a repository's URL ends in `.git`; a service whose remotes
        look otherwise (Azure DevOps' `/_git/<repo>`) says so here."""
        return bool(GIT_PATHS.search(path)) and ".git/" in path + "/"

    def fail(self, calls: int, status: int = 502) -> None:
        """Answer the next `calls` API calls with `status` (the service in trouble)."""
        with self.lock:
            self._fail = (calls, status)

    def rate_limit(self, calls: int) -> None:
        """Refuse the next `calls` API calls as the service does when rate-limited."""
        with self.lock:
            self._refuse = calls

    def authorized(self, headers: Any) -> bool:
        value = headers.get("Authorization") or headers.get("PRIVATE-TOKEN") or ""
        if headers.get("PRIVATE-TOKEN") == self.token:
            return True
        scheme, _, rest = value.partition(" ")
        if scheme.lower() in ("bearer", "token"):
            return rest == self.token
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(rest).decode().partition(":")[2] == self.token
            except ValueError:
                return False
        return False

    # -- repositories ----------------------------------------------------------------

    def bare(self, repo: str) -> Path:
        return self.root / f"{repo}.git"

    def add_repo(self, repo: str, source: Path) -> Path:
        """A bare clone of `source` (a repository with commits), served as `repo`."""
        bare = self.bare(repo)
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--bare", "-q", str(source), str(bare))
        git("config", "http.receivepack", "true", cwd=bare)
        with self.lock:
            self.pulls.setdefault(repo, [])
        return bare

    def branch_exists(self, repo: str, branch: str) -> bool:
        return git("rev-parse", "--verify", "-q", f"refs/heads/{branch}", cwd=self.bare(repo), check=False).returncode == 0

    def head(self, repo: str, branch: str) -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare(repo)).stdout.strip()

    def has_conflicts(self, repo: str, pr: PullRecord) -> bool:
        done = git(
            "merge-tree", "--write-tree", f"refs/heads/{pr.target}", f"refs/heads/{pr.source}",
            cwd=self.bare(repo), check=False,
        )  # fmt: skip
        return done.returncode != 0

    # -- pull requests ---------------------------------------------------------------

    def prs(self, repo: str) -> list[PullRecord]:
        with self.lock:
            return list(self.pulls.get(repo, []))

    def find(self, repo: str, number: int) -> PullRecord | None:
        with self.lock:
            return next((p for p in self.pulls.get(repo, []) if p.number == number), None)

    def open(self, repo: str, source: str, target: str, title: str, body: str = "", labels: list[str] | None = None) -> PullRecord:
        with self.lock:
            pulls = self.pulls.setdefault(repo, [])
            pr = PullRecord(len(pulls) + 1, repo, source, target, title, body, list(labels or []))
            pulls.append(pr)
            return pr

    def merge(self, repo: str, number: int, *, method: str = "merge", by: str = "reviewer") -> PullRecord:
        """Merge the PR in git (merge commit, squash or rebase) and record it merged."""
        with self.lock:
            pr = self.find(repo, number)
            assert pr is not None and pr.state == "open", pr
            work = Path(tempfile.mkdtemp(prefix="fake-merge-"))
            try:
                git("clone", "-q", "-b", pr.target, str(self.bare(repo)), str(work))
                git("fetch", "-q", "origin", pr.source, cwd=work)
                if method == "squash":
                    git("merge", "--squash", "FETCH_HEAD", cwd=work)
                    git("commit", "-q", "-m", f"{pr.title} (#{pr.number})", cwd=work)
                elif method == "rebase":
                    git("rebase", "-q", "HEAD", "FETCH_HEAD", cwd=work)
                    git("checkout", "-q", "-B", pr.target, cwd=work)
                else:
                    git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{pr.number} from {pr.source}", "FETCH_HEAD", cwd=work)
                git("push", "-q", "origin", f"HEAD:refs/heads/{pr.target}", cwd=work)
                pr.merge_commit = git("rev-parse", "HEAD", cwd=work).stdout.strip()
            finally:
                shutil.rmtree(work, ignore_errors=True)
            pr.state, pr.closed_by, pr.closed_at = "merged", by, _now()
            return pr

    def close(self, repo: str, number: int, *, by: str = "reviewer") -> PullRecord:
        with self.lock:
            pr = self.find(repo, number)
            assert pr is not None and pr.state == "open", pr
            pr.state, pr.closed_by, pr.closed_at = "closed", by, _now()
            return pr

    # -- the service's REST API: a subclass's part ------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        """Answer one API call: (status, headers, JSON body, or bytes sent as plain text).
        Raise ApiError for errors."""
        raise NotImplementedError

    def unauthorized(self) -> tuple[int, dict[str, str], Any]:
        return 401, {}, {"message": "Bad credentials"}


class _Handler(BaseHTTPRequestHandler):
    service: GitService

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        service = self.service
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if service.is_git_request(parts.path):
            self._git(parts.path, parts.query, raw)
            return
        with service.lock:
            service.requests.append((self.command, parts.path))
            refused = service._refuse > 0
            if refused:
                service._refuse -= 1
            failing, fail_status = service._fail
            if failing and not refused:
                service._fail = (failing - 1, fail_status)
        if failing and not refused:
            status, headers, body = fail_status, {}, {"message": "Server Error"}
        elif refused:
            status, headers, body = service.rate_limited_response()
        elif not service.authorized(self.headers):
            status, headers, body = service.unauthorized()
        else:
            try:
                data = json.loads(raw) if raw else None
                status, headers, body = service.api(self.command, parts.path, parse_qs(parts.query), data)
            except ApiError as err:
                status, headers, body = err.status, err.headers, err.body
            except Exception as err:  # a fake's own bug: answer it, so the client sees why
                status, headers, body = 500, {}, {"message": f"fake {type(service).__name__}: {type(err).__name__}: {err}"}
        # bytes are sent as they are (a plain-text answer, as GitLab's "Retry later"), the rest as JSON
        raw_body = isinstance(body, bytes)
        payload = b"" if body is None else body if raw_body else json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if payload and not any(k.lower() == "content-type" for k in headers):
            self.send_header("Content-Type", "text/plain; charset=utf-8" if raw_body else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _git(self, path: str, query: str, body: bytes) -> None:
        serve_git(self, self.service.root, path, query, body, user="gantry")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle
