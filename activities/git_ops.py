"""Git plumbing shared by the git steps.

Plain ``git`` subprocesses rather than GitPython: every call needs its own environment
(askpass, author), a timeout, and the full output in the error when it fails, which is
simpler to guarantee here. Secrets reach git only through ``GIT_ASKPASS`` and the
environment of that one process, so they never land in ``.git/config``, on a command
line, or in an error message.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from activities import credentials as credstore
from activities.credentials import Credentials, redact_url

DEFAULT_TIMEOUT = float(os.environ.get("GANTRY_GIT_TIMEOUT", "300"))
DEFAULT_AUTHOR = ("Gantry", "gantry@localhost")

_ASKPASS_SCRIPT = """#!/bin/sh
# Answers git's username/password prompts from this process's environment.
case "$1" in
  [Uu]sername*) printf '%s\\n' "$GANTRY_ASKPASS_USERNAME" ;;
  *) printf '%s\\n' "$GANTRY_ASKPASS_PASSWORD" ;;
esac
"""
_askpass_lock = threading.Lock()
_askpass_path: Path | None = None


def askpass_script() -> Path:
    """A static askpass helper (no secret inside), written once per worker process."""
    global _askpass_path
    with _askpass_lock:
        if _askpass_path is None or not _askpass_path.exists():
            d = Path(tempfile.mkdtemp(prefix="gantry-askpass-"))
            p = d / "askpass.sh"
            p.write_text(_ASKPASS_SCRIPT)
            p.chmod(stat.S_IRWXU)
            _askpass_path = p
        return _askpass_path


class GitError(Exception):
    """A failed git command. ``kind`` says whether retrying can help."""

    TERMINAL_KINDS = frozenset({"auth", "not_found", "conflict", "remote_rejected", "usage"})

    def __init__(self, message: str, kind: str = "transient", output: str = ""):
        super().__init__(message)
        self.kind = kind
        self.output = output

    @property
    def terminal(self) -> bool:
        return self.kind in self.TERMINAL_KINDS


_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "auth",
        re.compile(
            r"Authentication failed|could not read (Username|Password)|terminal prompts disabled|"
            r"Access denied|Permission denied \(publickey|returned error: 40[13]|Invalid username or password",
            re.I,
        ),
    ),
    (
        "not_found",
        re.compile(
            r"Repository not found|does not appear to be a git repository|returned error: 404|"
            r"Remote branch .* not found|couldn't find remote ref|not a git repository|"
            r"repository '[^'\n]*' not found",
            re.I,
        ),
    ),
    ("non_fast_forward", re.compile(r"\[rejected\].*\((non-fast-forward|fetch first|stale info)\)|Updates were rejected", re.I)),
    ("remote_rejected", re.compile(r"\[remote rejected\]|\[rejected\].*already exists", re.I)),
    ("conflict", re.compile(r"CONFLICT \(|could not apply|Merge conflict|needs merge", re.I)),
]


def classify(output: str) -> str:
    for kind, pattern in _PATTERNS:
        if pattern.search(output):
            return kind
    return "transient"


def _scrub(text: str, creds: Credentials | None) -> str:
    text = redact_url(text)
    if creds and creds.password:
        text = text.replace(creds.password, "***")
    return text


def _clean_env() -> dict[str, str]:
    # Keep git deterministic and non-interactive, and keep the credential store's own
    # variables away from git, its hooks and anything they start.
    env = {k: v for k, v in os.environ.items() if not credstore._ENV_RE.match(k) and not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", LANGUAGE="C", GIT_CONFIG_NOSYSTEM="1")
    env["GIT_SSH_COMMAND"] = os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


@dataclass
class Git:
    """Runs git in ``cwd`` with the credentials that match ``url`` (looked up once).
    With ``git_dir`` every command names that repository (``--git-dir``), so git never
    goes looking in parent directories for one."""

    cwd: Path | None = None
    url: str | None = None
    creds: Credentials | None = None
    timeout: float = DEFAULT_TIMEOUT
    git_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.url and self.creds is None:
            self.creds = credstore.lookup(self.url, "git")

    def _command(self, args: tuple[str, ...]) -> list[str]:
        # An empty credential.helper list means git asks only our askpass, never a
        # helper configured for the worker's user that might prompt or store secrets.
        cmd = ["git", "-c", "credential.helper=", "-c", "core.quotePath=false"]
        if self.git_dir is not None:
            cmd.append(f"--git-dir={self.git_dir}")
        return [*cmd, *args]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = _clean_env()
        if self.creds is not None:
            env["GIT_ASKPASS"] = str(askpass_script())
            env["GANTRY_ASKPASS_USERNAME"] = self.creds.username
            env["GANTRY_ASKPASS_PASSWORD"] = self.creds.password
        if extra:
            env.update(extra)
        return env

    def run(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one git command; raise GitError (with git's output) when it fails."""
        cmd = self._command(args)
        shown = _scrub(" ".join(["git", *args]), self.creds)
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.cwd,
                env=self.env(extra_env),
                capture_output=True,
                text=True,
                timeout=timeout or self.timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            out = _scrub(((e.stdout or "") if isinstance(e.stdout, str) else "") + ((e.stderr or "") if isinstance(e.stderr, str) else ""), self.creds)
            raise GitError(f"{shown}: timed out after {timeout or self.timeout:.0f}s\n{out}".rstrip(), "transient", out) from None
        except FileNotFoundError:
            raise GitError("git is not installed on this worker", "transient") from None
        if check and proc.returncode != 0:
            out = _scrub((proc.stdout + proc.stderr).strip(), self.creds)
            raise GitError(f"{shown}: exit status {proc.returncode}\n{out}".rstrip(), classify(out), out)
        return proc

    def out(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).stdout.strip()  # type: ignore[arg-type]

    @contextmanager
    def stream(self, *args: str, timeout: float | None = None) -> Iterator[Iterator[str]]:
        """Run one git command and read its stdout line by line (newline stripped).

        Leaving the block before the end stops git, so a reader that has seen enough
        (``git log`` over a long history) does not pay for the rest. A command that
        fails after running to the end raises GitError, as ``run`` does."""
        cmd = self._command(args)
        shown = _scrub(" ".join(["git", *args]), self.creds)
        limit = timeout or self.timeout
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    cmd, cwd=self.cwd, env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=err, text=True, encoding="utf-8", errors="replace",
                )
            except FileNotFoundError:
                raise GitError("git is not installed on this worker", "transient") from None
            timed_out = threading.Event()

            def expire() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(limit, expire)
            timer.start()
            finished = False

            def lines() -> Iterator[str]:
                nonlocal finished
                assert proc.stdout is not None
                for line in proc.stdout:
                    yield line.removesuffix("\n")
                finished = True

            try:
                yield lines()
            finally:
                timer.cancel()
                if not finished and proc.poll() is None:
                    proc.kill()
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
            if timed_out.is_set() or (finished and proc.returncode != 0):
                err.seek(0)
                out = _scrub(err.read().decode("utf-8", "replace").strip(), self.creds)
                if timed_out.is_set():
                    raise GitError(f"{shown}: timed out after {limit:.0f}s\n{out}".rstrip(), "transient", out)
                raise GitError(f"{shown}: exit status {proc.returncode}\n{out}".rstrip(), classify(out), out)

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0


def author_env(name: str, email: str) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def resolve_author(config_author: object, repo: Git | None = None) -> tuple[str, str]:
    """Author of a commit: the step's ``author``, else what git-clone recorded in the
    clone, else GANTRY_GIT_AUTHOR_NAME/EMAIL, else Gantry <gantry@localhost>."""
    name = email = ""
    if isinstance(config_author, dict):
        name = str(config_author.get("name") or "")
        email = str(config_author.get("email") or "")
    if repo is not None and (not name or not email):
        if not name:
            name = repo.run("config", "--local", "user.name", check=False).stdout.strip()
        if not email:
            email = repo.run("config", "--local", "user.email", check=False).stdout.strip()
    name = name or os.environ.get("GANTRY_GIT_AUTHOR_NAME") or DEFAULT_AUTHOR[0]
    email = email or os.environ.get("GANTRY_GIT_AUTHOR_EMAIL") or DEFAULT_AUTHOR[1]
    return name, email


def remote_branch_sha(git: Git, url_or_remote: str, branch: str) -> str | None:
    """The commit a remote branch points at, or None if the branch does not exist."""
    out = git.out("ls-remote", "--heads", url_or_remote, f"refs/heads/{branch}")
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


_BAD_REF_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_ref_component(name: str) -> str:
    """Make ``name`` a valid single component of a git ref name (git check-ref-format)."""
    s = _BAD_REF_CHARS.sub("-", name)
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"-{2,}", "-", s).strip("-.")
    while s.endswith(".lock"):
        s = s[: -len(".lock")].rstrip("-.")
    return s or "promotion"


def commit_url(remote_url: str, sha: str) -> str:
    """A browser URL for ``sha`` on well-known hosts; empty when it cannot be derived."""
    url = redact_url(remote_url.strip())
    m = re.match(r"^(?:ssh://)?(?:[^@/]+@)?([^:/]+)[:/](?!/)(.+)$", url) if "://" not in url or url.startswith("ssh://") else None
    if m:
        host, path = m.group(1), m.group(2)
        if url.startswith("ssh://"):
            parts = urlsplit(url)
            host, path = parts.hostname or "", parts.path.lstrip("/")
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return ""
        host, path = parts.netloc, parts.path.lstrip("/")
    path = path.rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not host or not path:
        return ""
    base = f"https://{host}/{path}"
    h = host.lower()
    if h == "github.com" or h.startswith("github."):
        return f"{base}/commit/{sha}"
    if "gitlab" in h:
        return f"{base}/-/commit/{sha}"
    if h == "bitbucket.org":
        return f"{base}/commits/{sha}"
    if "gitea" in h or "codeberg" in h or "forgejo" in h:
        return f"{base}/commit/{sha}"
    if h in ("dev.azure.com",) or h.endswith(".visualstudio.com"):
        return f"{base}/commit/{sha}"
    return ""


def is_ancestor(git: Git, older: str, newer: str) -> bool:
    return git.ok("merge-base", "--is-ancestor", older, newer)

