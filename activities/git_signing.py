"""Signing commits with a step's ``author.signingKey`` (an ASCII-armored GPG private key).

Every git command runs with ``gpg.program=false`` (``git_trust.neutral_config``), so
nothing in a repository can start gpg. A commit a step asks to sign gets, for that one
``git commit``, a GNUPGHOME made afresh in the step's work dir (never the worker's home;
the system temp dir when the work dir is too deep for gpg-agent's socket)
holding only the step's key, and ``-c`` settings naming the worker's own gpg and the
key's fingerprint. The GNUPGHOME (and its gpg-agent) is gone when the commit is made.

git-clone's ``author.signingKey`` applies to later commits in that checkout: it is kept
in the checkout's git dir (mode 0600, where no repository content can reach), as the
clone's author name and email are kept in its config. The key never appears in an
error message or a log line: gpg's own messages (which quote a malformed key) are not
passed on.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from activities.git_ops import Git, GitError
from activities.trust import tool_env

#: Where git-clone keeps its author's signing key, inside the checkout's git dir.
KEY_FILE = "gantry-signing-key.asc"


def keep_clone_key(git_dir: Path, key: str) -> None:
    """Record git-clone's ``author.signingKey`` for the checkout's later commits."""
    path = git_dir / KEY_FILE
    path.touch(mode=0o600)
    path.write_text(key)


def clone_key(git_dir: Path) -> str | None:
    """The signing key git-clone recorded for this checkout, if any."""
    path = git_dir / KEY_FILE
    if path.is_file() and not path.is_symlink():
        return path.read_text()
    return None


def _gpg(gpg: str, home: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [gpg, "--batch", "--no-tty", "--homedir", str(home), *args],
        input=stdin, capture_output=True, text=True, timeout=60, env=tool_env({"GNUPGHOME": str(home)}),
    )  # fmt: skip
    if proc.returncode != 0:
        # Not gpg's own messages: given a malformed key, gpg echoes parts of it.
        raise GitError(f"gpg {args[0]}: exit status {proc.returncode}: author.signingKey is not a usable GPG key", "usage")
    return proc.stdout


def _fingerprint(gpg: str, home: Path) -> str:
    listing = _gpg(gpg, home, "--with-colons", "--list-secret-keys")
    seen_sec = False
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            seen_sec = True
        elif fields[0] == "fpr" and seen_sec:
            return fields[9]
    raise GitError("author.signingKey holds no GPG private key (an ASCII-armored secret key is expected)", "usage")


#: gpg-agent's sockets live in GNUPGHOME (S.gpg-agent.browser, in a Unix socket path of
#: at most 107 bytes), so a deep work dir cannot hold it.
_SOCKET_ROOM = 80


def _home_parent(workdir: Path) -> Path | None:
    """The work dir, or (when too deep for gpg-agent's sockets) the system temp dir, where
    ``mkdtemp`` makes a directory only this worker's user can enter."""
    return workdir if len(str(workdir)) + len("/.gnupg-XXXXXXXX") <= _SOCKET_ROOM else None


@contextmanager
def signing_config(key: str, workdir: Path) -> Iterator[tuple[tuple[tuple[str, str], ...], dict[str, str]]]:
    """``(-c settings, environment)`` for one signed ``git commit`` with ``key``."""
    gpg = shutil.which("gpg")
    if gpg is None:
        raise GitError("signing a commit needs gpg, which is not installed on this worker", "usage")
    home = Path(tempfile.mkdtemp(prefix=".gnupg-", dir=_home_parent(workdir)))
    try:
        home.chmod(0o700)
        _gpg(gpg, home, "--import", stdin=key)
        fpr = _fingerprint(gpg, home)
        config = (
            ("gpg.format", "openpgp"),
            ("gpg.program", gpg),
            ("gpg.openpgp.program", gpg),
            ("user.signingKey", fpr),
            ("commit.gpgSign", "true"),
        )
        yield config, {"GNUPGHOME": str(home)}
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run(
                [gpgconf, "--homedir", str(home), "--kill", "gpg-agent"],
                capture_output=True, timeout=30, env=tool_env({"GNUPGHOME": str(home)}),
            )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def commit(g: Git, key: str | None, workdir: Path, *args: str, env: dict[str, str]) -> None:
    """``git commit <args>`` in ``g``'s repository, signed with ``key`` when there is one."""
    if not key:
        g.run("commit", *args, extra_env=env)
        return
    with signing_config(key, workdir) as (signing, gnupg):
        replace(g, config=(*g.config, *signing)).run("commit", *args, extra_env={**env, **gnupg})
