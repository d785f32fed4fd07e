"""Git plumbing shared by the git steps.

Plain ``git`` subprocesses rather than GitPython: every call needs its own environment
(askpass, author), a timeout, and the full output in the error when it fails, which is
simpler to guarantee here. Secrets reach git only through ``GIT_ASKPASS`` and the
environment of that one process, so they never land in ``.git/config``, on a command
line, or in an error message.

The trust boundary (docs/security.md; the settings live in ``activities.git_trust``):

* environment: ``git_env()`` = ``trust.tool_env()`` (allow-list, private HOME, no global
  or system config) + protocol allow-list, ssh command, locale, then askpass and author
  variables for the one process that needs them;
* config that runs programs: ``neutral_config()`` on every command line (hooks,
  fsmonitor, pager, editors, external diff, signing, ssh command); a repository's own
  config may hold only the keys Gantry's clones have (``_LOCAL_ALLOWED``), else
  ``Git.check_config`` refuses to run there (names are arbitrary for filter and diff
  drivers and ``url.*.insteadOf``, and ``core.gitProxy`` cannot be overridden by ``-c``,
  so refusing is the only complete answer);
* ``GIT_ALLOW_PROTOCOL`` on every command (``allowed_protocols()``), and
  ``check_remote_url`` before any command: option-like URLs, remote helpers and, unless
  the worker allows local repositories, paths and ``file://``;
* askpass: answers only a prompt whose scheme://host:port is the credential's and whose
  path lies under the credential's prefix (``credential.useHttpPath=true``); redirects
  are followed on the initial request only.

An operator's own git config (``GANTRY_GIT_CONFIG``, trusted) is git's global config and
the keys it sets are not overridden.
"""

from __future__ import annotations

import os
import re
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
from activities.git_trust import (
    NETWORK_PROTOCOLS,
    allowed_protocols,
    askpass_script,
    credential_scope,
    local_values,
    neutral_config,
    operator_keys,
    ssh_command,
    unsafe_local_keys,
    url_transport,
)
from activities.trust import ALLOW_LOCAL_REPOS, local_repos_allowed, private_home, tool_env

DEFAULT_TIMEOUT = float(os.environ.get("GANTRY_GIT_TIMEOUT", "300"))
DEFAULT_AUTHOR = ("Gantry", "gantry@localhost")

def check_remote_url(url: str) -> None:
    """Refuse, before git runs, a remote URL git would read as an option or that uses a
    transport this worker does not allow. Raises GitError (kind ``usage``)."""
    if url.startswith("-"):
        raise GitError(f"{redact_url(url)!r} starts with '-': git would read it as an option", "usage")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise GitError(f"{redact_url(url)!r} contains a control character", "usage")
    transport = url_transport(url)
    if transport == "file" and not local_repos_allowed():
        raise GitError(
            f"{redact_url(url)!r} is a local repository (a path or file:// URL), and this worker does not "
            f"allow local repositories: start it with `gantry worker --allow-local-repos` or set "
            f"{ALLOW_LOCAL_REPOS}=1 to allow them",
            "usage",
        )
    if transport not in allowed_protocols():
        if transport in (*NETWORK_PROTOCOLS, "file"):
            raise GitError(
                f"{redact_url(url)!r}: transport {transport!r} is not in this worker's GIT_ALLOW_PROTOCOL "
                f"({os.environ.get('GIT_ALLOW_PROTOCOL', '')!r})",
                "usage",
            )
        raise GitError(
            f"{redact_url(url)!r}: transport {transport!r} is not allowed (allowed: {', '.join(allowed_protocols())})",
            "usage",
        )


def check_value(value: str, what: str) -> str:
    """A ref, commit, tag or path value that must not be read as an option."""
    if value.startswith("-"):
        raise GitError(f"{what}: {value!r} starts with '-': git would read it as an option", "usage")
    if "\x00" in value:
        raise GitError(f"{what}: {value!r} contains a NUL byte", "usage")
    return value


#: config file -> (its stamp when last checked clean, that check's listing)
_clean_configs: dict[str, tuple[tuple[int, int, int], str]] = {}
_clean_lock = threading.Lock()
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _plain_file(path: Path) -> str | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _head_from_files(git_dir: Path) -> str | None:
    """HEAD's commit from ``HEAD`` and ``refs/`` or ``packed-refs``; None when that takes
    more than reading them (reftable, symbolic chains, an unborn branch): git is asked then."""
    head = _plain_file(git_dir / "HEAD")
    if head is None:
        return None
    if _SHA.fullmatch(head):
        return head
    if not head.startswith("ref: refs/heads/"):
        return None
    ref = head[len("ref: "):]
    if ".." in ref.split("/"):
        return None
    loose = _plain_file(git_dir / ref)
    if loose is not None:
        return loose if _SHA.fullmatch(loose) else None
    for line in (_plain_file(git_dir / "packed-refs") or "").splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and _SHA.fullmatch(sha):
            return sha
    return None


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
    ("usage", re.compile(r"transport '[^'\n]*' not allowed|gantry askpass: refused", re.I)),
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


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every git process: ``tool_env()`` (allow-listed, private HOME,
    no global or system config) plus what git itself needs; ``extra`` (askpass, author)
    last. Nothing else of the worker's environment reaches git."""
    operator, _ = operator_keys()
    env = tool_env(
        {
            "LC_ALL": "C",
            "LANGUAGE": "C",
            "GIT_ALLOW_PROTOCOL": ":".join(allowed_protocols()) or "none",
            "GIT_SSH_COMMAND": ssh_command(),
            "GIT_PAGER": "cat",
        }
    )
    if operator:
        env["GIT_CONFIG_GLOBAL"] = operator
    if extra:
        env.update(extra)
    return env


@dataclass
class Git:
    """Runs git in ``cwd`` with the credentials that match ``url`` (looked up once).
    With ``git_dir`` every command names that repository (``--git-dir``), so git never
    goes looking in parent directories for one.

    Every command gets ``git_env()`` and ``neutral_config()``; one that runs in a
    repository first checks that repository's own config holds only keys Gantry's
    clones have (``unsafe_local_keys``), and refuses to run otherwise."""

    cwd: Path | None = None
    url: str | None = None
    creds: Credentials | None = None
    timeout: float = DEFAULT_TIMEOUT
    git_dir: Path | None = None
    #: ``-c`` settings after ``neutral_config()`` for this one repository's commands (a
    #: step's own choice: ``http.sslVerify=false``, commit signing), so they win over it.
    config: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.url and self.creds is None:
            self.creds = credstore.lookup(self.url, "git")

    def _command(self, args: tuple[str, ...]) -> list[str]:
        cmd = ["git", *neutral_config()]
        for key, value in self.config:
            cmd += ["-c", f"{key}={value}"]
        if self.git_dir is not None:
            cmd.append(f"--git-dir={self.git_dir}")
        return [*cmd, *args]

    def _where(self) -> Path:
        # A command without a repository runs in an empty private directory, never in the
        # worker's own current directory (which may be inside some repository).
        return self.cwd if self.cwd is not None else private_home()

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        add: dict[str, str] = {}
        if self.cwd is None and self.git_dir is None:
            add["GIT_CEILING_DIRECTORIES"] = str(private_home().parent)
        if self.creds is not None and self.url:
            scope = credential_scope(self.url, self.creds)
            if scope is not None:
                # Only with a credential; without one, core.askPass is empty (neutral_config)
                # and SSH_ASKPASS is not passed on, so nothing is asked.
                add["GIT_ASKPASS"] = str(askpass_script())
                add["GANTRY_ASKPASS_ORIGIN"], add["GANTRY_ASKPASS_PATH"] = scope
                add["GANTRY_ASKPASS_USERNAME"] = self.creds.username
                add["GANTRY_ASKPASS_PASSWORD"] = self.creds.password
        return git_env({**add, **(extra or {})})

    def plain_git_dir(self) -> Path | None:
        """The repository's own directory when it is plain: ``git_dir``, or a ``.git``
        directory (not a link, not a file naming one elsewhere) in ``cwd``; None otherwise."""
        if self.git_dir is not None:
            return self.git_dir
        if self.cwd is not None:
            dot = self.cwd / ".git"
            if dot.is_dir() and not dot.is_symlink():
                return dot
        return None

    def _config_file(self) -> Path | None:
        found = self.plain_git_dir()
        return found / "config" if found is not None else None

    def _submodule_worktree(self, listing: str) -> bool:
        """True when the repository is a submodule's, as ``git submodule`` makes it: ``.git``
        a file naming a git dir under a superproject's ``modules/``, whose one
        ``core.worktree`` is this very work tree (recurseSubmodules; no other clone has it)."""
        dot = self.cwd / ".git" if self.cwd is not None else None
        if dot is None or not dot.is_file() or dot.is_symlink():
            return False
        text = dot.read_text(errors="replace")
        if not text.startswith("gitdir: "):
            return False
        git_dir = (dot.parent / text[len("gitdir: "):].strip()).resolve()
        values = local_values(listing, "core.worktree")
        if "modules" not in git_dir.parts or len(values) != 1:
            return False
        return (git_dir / values[0]).resolve() == dot.parent.resolve()

    def check_config(self) -> str:
        """Refuse to run in a repository whose own config holds a key Gantry's clones never
        have: it can only have got there by something writing into ``.git``. Returns the
        listing it checked (``git config --list --show-scope -z``; "" outside a repository),
        kept until the file changes, so reading the clone's own settings costs no process."""
        if self.cwd is None and self.git_dir is None:
            return ""
        path = self._config_file()
        stamp = None
        if path is not None:
            try:
                st = path.stat()
                stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            except OSError:
                stamp = None
            with _clean_lock:
                cached = _clean_configs.get(str(path))
                if stamp is not None and cached is not None and cached[0] == stamp:
                    return cached[1]
        try:
            proc = subprocess.run(
                self._command(("config", "--list", "--show-scope", "-z")),
                cwd=self._where(), env=git_env(), capture_output=True, text=True,
                timeout=60, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except FileNotFoundError:
            raise GitError("git is not installed on this worker", "transient") from None
        where = self.git_dir or self.cwd
        if proc.returncode != 0:
            raise GitError(f"refusing to run git in {where}: git cannot read its config\n{proc.stderr.strip()}", "usage")
        bad = unsafe_local_keys(proc.stdout)
        if "core.worktree" in (k.lower() for k in bad) and self._submodule_worktree(proc.stdout):
            bad = [k for k in bad if k.lower() != "core.worktree"]
        if bad:
            raise GitError(
                f"refusing to run git in {where}: its .git/config sets {', '.join(sorted(bad))}, which Gantry's "
                "clones never set (a key that can run a program or redirect git); something wrote into .git",
                "usage",
            )
        if path is not None and stamp is not None:
            with _clean_lock:
                _clean_configs[str(path)] = (stamp, proc.stdout)
        return proc.stdout

    def local_config(self, key: str) -> str:
        """The value the repository's own config gives ``key`` ("" when none), as
        ``git config --local KEY`` prints it, from the listing ``check_config`` made."""
        values = local_values(self.check_config(), key.lower())
        return values[-1] if values else ""

    def origin_url(self) -> str:
        """``git remote get-url origin``; from the checked listing unless some config
        rewrites URLs (``url.*.insteadOf``), which only git applies."""
        listing = self.check_config()
        if any(entry.split("\n", 1)[0].lower().startswith("url.") for entry in listing.split("\0")[1::2]):
            return self.run("remote", "get-url", "origin", check=False).stdout.strip()
        return self.local_config("remote.origin.url")

    def head(self) -> str | None:
        """The commit HEAD points at (None: no commit yet), read from the repository's own
        files when they are plain (a ``.git`` directory, a loose or packed branch ref, or a
        detached HEAD); ``git rev-parse`` otherwise."""
        dot = self.plain_git_dir()
        found = _head_from_files(dot) if dot is not None and dot.is_dir() and not dot.is_symlink() else None
        if found is not None:
            return found
        r = self.run("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None

    def run(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one git command; raise GitError (with git's output) when it fails."""
        self.check_config()
        cmd = self._command(args)
        shown = _scrub(" ".join(["git", *args]), self.creds)
        try:
            proc = subprocess.run(
                cmd,
                cwd=self._where(),
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
            raise self.failure(args, proc)
        return proc

    def failure(self, args: tuple[str, ...], proc: subprocess.CompletedProcess[str]) -> GitError:
        """The error of a command that failed (run with ``check=False``), from its own output:
        scrubbed, and classified so that the caller knows whether a retry can help."""
        shown = _scrub(" ".join(["git", *args]), self.creds)
        out = _scrub((proc.stdout + proc.stderr).strip(), self.creds)
        return GitError(f"{shown}: exit status {proc.returncode}\n{out}".rstrip(), classify(out), out)

    def out(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).stdout.strip()  # type: ignore[arg-type]

    @contextmanager
    def stream(self, *args: str, timeout: float | None = None) -> Iterator[Iterator[str]]:
        """Run one git command and read its stdout line by line (newline stripped).

        Leaving the block before the end stops git, so a reader that has seen enough
        (``git log`` over a long history) does not pay for the rest. A command that
        fails after running to the end raises GitError, as ``run`` does."""
        self.check_config()
        cmd = self._command(args)
        shown = _scrub(" ".join(["git", *args]), self.creds)
        limit = timeout or self.timeout
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    cmd, cwd=self._where(), env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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
        name = name or repo.local_config("user.name")
        email = email or repo.local_config("user.email")
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
_PLAIN_COMPONENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def plain_branch_name(name: str) -> bool:
    """A branch name ``git check-ref-format`` surely accepts (letters, digits, ``._-`` in
    ``/``-separated parts that start with no dot and end with no ``.`` or ``.lock``), so it
    need not be asked; False means: ask git."""
    parts = name.split("/")
    return bool(name) and all(
        _PLAIN_COMPONENT.fullmatch(p) and ".." not in p and not p.endswith((".", ".lock")) for p in parts
    )


def sanitize_ref_component(name: str) -> str:
    """Make ``name`` a valid single component of a git ref name (git check-ref-format)."""
    s = _BAD_REF_CHARS.sub("-", name)
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"-{2,}", "-", s).strip("-.")
    while s.endswith(".lock"):
        s = s[: -len(".lock")].rstrip("-.")
    return s or "promotion"


def commit_url(remote_url: str, sha: str, provider: str | None = None) -> str:
    """A browser URL for ``sha``: in the shape of ``provider``'s (git-push's ``provider``,
    for a host whose name does not say) or else of a well-known host; empty when it
    cannot be derived."""
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
    h = {"github": "github.com", "gitlab": "gitlab", "bitbucket": "bitbucket.org", "gitea": "gitea",
         "forgejo": "forgejo", "azure": "dev.azure.com"}.get(provider or "", host.lower())  # fmt: skip
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

