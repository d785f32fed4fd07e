"""What git may do on a worker: the settings behind ``activities.git_ops``'s trust boundary.

* askpass: ``askpass_script()`` runs ``activities/askpass.py``, which answers only for the
  place ``credential_scope()`` names (the credential's own origin and path prefix);
* transports: ``allowed_protocols()`` for ``GIT_ALLOW_PROTOCOL``, ``url_transport()`` to
  check a URL before git runs;
* config that runs programs: ``neutral_config()`` on every command line, and
  ``unsafe_local_keys()`` for a repository's own config, which may hold only what
  Gantry's clones write.

An operator's own git config (``GANTRY_GIT_CONFIG``, trusted) is git's global config and
the keys it sets are not overridden.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from activities import askpass
from activities.credentials import Credentials, normalize_url
from activities.trust import local_repos_allowed, tool_env

#: A git config file of the operator's (trusted): git reads it as its global config, and
#: the keys it sets are not overridden below (signing, a proxy, hooks for tests).
OPERATOR_CONFIG = "GANTRY_GIT_CONFIG"

# --- askpass: answers only for the credential's own origin and path prefix ----------------

_askpass_lock = threading.Lock()
_askpass_path: Path | None = None


def askpass_script() -> Path:
    """A static askpass helper (no secret inside), written once per worker process: it
    runs ``activities/askpass.py`` with this interpreter, isolated (``-I -S``)."""
    global _askpass_path
    with _askpass_lock:
        if _askpass_path is None or not _askpass_path.exists():
            d = Path(tempfile.mkdtemp(prefix="gantry-askpass-"))
            p = d / "askpass.sh"
            p.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S {shlex.quote(askpass.__file__)} \"$@\"\n")
            p.chmod(stat.S_IRWXU)
            _askpass_path = p
        return _askpass_path


def credential_scope(url: str, creds: Credentials) -> tuple[str, str] | None:
    """(``scheme://host:port``, path prefix) the askpass may answer ``creds`` for: the
    credential's own URL prefix when it has one, else the URL it was looked up for.
    None when that is not an http(s) URL (git asks askpass for http(s) only)."""
    try:
        return askpass.where(creds.scope or normalize_url(url))
    except ValueError:
        return None



# --- which remotes git may talk to ---------------------------------------------------------

#: Transports git may use; ``file`` (file:// URLs and local paths) only when the worker
#: allows local repositories. ``ext::``, ``fd::`` and other remote helpers never.
NETWORK_PROTOCOLS = ("https", "http", "ssh", "git")


def allowed_protocols() -> list[str]:
    """``GIT_ALLOW_PROTOCOL`` for every git command: ours, intersected with the
    operator's own ``GIT_ALLOW_PROTOCOL`` when the worker's environment sets one."""
    allowed = [*NETWORK_PROTOCOLS, *(["file"] if local_repos_allowed() else [])]
    operator = os.environ.get("GIT_ALLOW_PROTOCOL")
    if operator is not None:
        theirs = {p.strip().lower() for p in operator.split(":") if p.strip()}
        allowed = [p for p in allowed if p in theirs]
    return allowed


def url_transport(url: str) -> str:
    """The git transport ``url`` uses, as ``GIT_ALLOW_PROTOCOL`` names it."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)::", url)
    if m:
        return m.group(1).lower()  # <transport>::<address>, a remote helper
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if m:
        scheme = m.group(1).lower()
        return "ssh" if scheme in ("git+ssh", "ssh+git") else scheme
    colon, slash = url.find(":"), url.find("/")
    if colon > 0 and (slash < 0 or colon < slash):
        return "ssh"  # scp-like user@host:path
    return "file"


# --- config that runs programs --------------------------------------------------------------

#: Set on the command line of every git command (command-line config wins over the
#: repository's), unless the operator's own config (GANTRY_GIT_CONFIG) sets the key.
_NEUTRAL_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),  # <hooksPath>/<hook> never exists: no hook runs
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("sequence.editor", "false"),
    ("core.askPass", ""),
    ("credential.helper", ""),  # an empty list: git asks only our askpass
    ("credential.useHttpPath", "true"),  # prompts carry the path the askpass checks
    ("diff.external", ""),
    ("submodule.recurse", "false"),
    ("protocol.ext.allow", "never"),
    ("http.followRedirects", "initial"),
    ("log.showSignature", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("tag.forceSignAnnotated", "false"),
    ("push.gpgSign", "false"),
    ("gpg.program", "false"),
    ("gpg.openpgp.program", "false"),
    ("gpg.x509.program", "false"),
    ("gpg.ssh.program", "false"),
    ("gpg.ssh.defaultKeyCommand", ""),
    ("core.quotePath", "false"),
)
_SIGNING = re.compile(r"^(gpg\..*|user\.signingkey|(commit|tag|push)\.gpgsign|tag\.forcesignannotated)$")

#: The only keys a repository's own config (.git/config, its worktree config) may hold.
#: These are what ``git clone``/``init``, git-clone and discovery write; none runs a
#: program (``extensions.worktreeConfig`` is what ``git sparse-checkout`` writes;
#: ``submodule.<name>.url``/``active`` what git-clone's ``recurseSubmodules`` writes
#: after checking each URL; ``http.sslVerify`` what its ``insecureSkipTLSVerify`` writes).
#: Anything else (core.fsmonitor, filter and diff drivers, url.*.insteadOf,
#: include.path, core.gitProxy, remote.*.uploadpack, ...) means something other than
#: Gantry wrote the file, and git refuses to run there.
_LOCAL_ALLOWED = re.compile(
    r"^(core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks"
    r"|autocrlf|eol|safecrlf|sparsecheckout|sparsecheckoutcone)"
    r"|extensions\.(objectformat|partialclone|preciousobjects|noop|worktreeconfig)"
    r"|remote\..+\.(url|fetch|promisor|partialclonefilter|tagopt|mirror)"
    r"|branch\..+\.(remote|merge)"
    r"|submodule\..+\.(url|active)"
    r"|http\.sslverify"
    r"|user\.(name|email)"
    r"|gc\.(autodetach|auto)"
    r"|index\.version)$",
    re.S,
)


def ssh_command() -> str:
    """The operator's GIT_SSH_COMMAND, else a non-interactive ssh."""
    return os.environ.get("GIT_SSH_COMMAND") or "ssh -o BatchMode=yes"


_operator_cache: dict[tuple[str, int, int], frozenset[str]] = {}


def operator_keys() -> tuple[str | None, frozenset[str]]:
    """The operator's git config file and the (lower-cased) keys it sets."""
    path = os.environ.get(OPERATOR_CONFIG)
    if not path:
        return None, frozenset()
    try:
        st = os.stat(path)
    except OSError:
        return path, frozenset()
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _operator_cache:
        proc = subprocess.run(
            ["git", "config", "--file", path, "--includes", "--list", "--name-only", "-z"],
            capture_output=True, text=True, env=tool_env(), stdin=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
        _operator_cache.clear()
        _operator_cache[key] = frozenset(k.lower() for k in proc.stdout.split("\0") if k)
    return path, _operator_cache[key]


def neutral_config() -> list[str]:
    """``-c key=value`` for every command: program-running config neutralised."""
    _, theirs = operator_keys()
    signing = any(_SIGNING.match(k) for k in theirs)
    out: list[str] = []
    for key, value in (*_NEUTRAL_CONFIG, ("core.sshCommand", ssh_command())):
        if key.lower() in theirs or (signing and _SIGNING.match(key.lower())):
            continue
        out += ["-c", f"{key}={value}"]
    return out


def local_values(listing: str, key: str) -> list[str]:
    """The values the repository's own config gives ``key`` (lower-case) in ``git config
    --list --show-scope -z`` output."""
    fields = listing.split("\0")
    out: list[str] = []
    for scope, entry in zip(fields[0::2], fields[1::2]):
        name, _, value = entry.partition("\n")
        if scope in ("local", "worktree") and name.lower() == key:
            out.append(value)
    return out


def unsafe_local_keys(listing: str) -> list[str]:
    """Keys of ``git config --list --show-scope -z`` output from the repository's own
    config that it may not hold."""
    bad: list[str] = []
    fields = listing.split("\0")
    for scope, entry in zip(fields[0::2], fields[1::2]):
        if scope not in ("local", "worktree"):
            continue
        name = entry.partition("\n")[0]
        section, _, rest = name.partition(".")
        sub, _, var = rest.rpartition(".")
        lowered = section.lower() + "." + (sub + "." if sub else "") + var.lower()
        if not _LOCAL_ALLOWED.match(lowered) and name not in bad:
            bad.append(name)
    return bad
