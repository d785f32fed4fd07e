"""What external tools may see, and what an operator must turn on to widen it.

Every tool a step or a metric starts (git, kustomize, helm, a local job) gets the
environment built here: an allow-list of the worker's variables (no credential, no
``GANTRY_*``, no ``GIT_*``), a private, empty ``HOME`` (no ``~/.gitconfig``, no helm
repositories, no ssh keys of the worker's user) and no global or system git config.
Secrets reach a tool only through variables its caller adds for that one process.

Two capabilities are off unless the operator turns them on for a worker
(docs/security.md):

* ``GANTRY_ALLOW_LOCAL_REPOS=1`` (``gantry worker --allow-local-repos``): git may use
  ``file://`` URLs and local paths (tests, the quickstart, single-machine setups).
* ``GANTRY_ALLOW_LOCAL_JOBS=1`` (``gantry worker --allow-local-jobs``): the job metric
  provider may run a command on the worker's host.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

ALLOW_LOCAL_REPOS = "GANTRY_ALLOW_LOCAL_REPOS"
ALLOW_LOCAL_JOBS = "GANTRY_ALLOW_LOCAL_JOBS"

#: The worker's variables a tool may see. Proxies and CA bundles are the operator's
#: network settings; locale and time zone keep tools' output stable.
PASSED_ON = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "USER",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

_TRUE = ("1", "true", "yes", "on")


def _enabled(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def local_repos_allowed() -> bool:
    """May git read and write ``file://`` URLs and local paths on this worker?"""
    return _enabled(ALLOW_LOCAL_REPOS)


def local_jobs_allowed() -> bool:
    """May the job metric provider run commands on this worker's host?"""
    return _enabled(ALLOW_LOCAL_JOBS)


_home_lock = threading.Lock()
_home: Path | None = None


def private_home() -> Path:
    """An empty directory, private to this worker process, that tools get as ``HOME``."""
    global _home
    with _home_lock:
        if _home is None or not _home.is_dir():
            _home = Path(tempfile.mkdtemp(prefix="gantry-home-"))
        return _home


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for one external tool: the allow-list, a private HOME, no
    global or system git config, nothing interactive, then ``extra``."""
    env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
    env.setdefault("PATH", os.defpath)
    home = str(private_home())
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=home,
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        XDG_DATA_HOME=os.path.join(home, ".local", "share"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
    )
    if extra:
        env.update(extra)
    return env
