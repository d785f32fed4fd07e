"""Shared HTTP plumbing for the steps that talk to web servers (http, http-download,
oci-download, argocd-update): credential headers, clients, request fields, heartbeats,
and atomic file writes.

Secrets come from the credential store (``activities.credentials``) by URL inside the
activity; they are put into request headers only, never into messages or outputs.

Where a request that carries a stored credential may go:

* **No proxy unless the credential allows it.** ``client(creds=...)`` builds a client that
  ignores the environment's proxy settings (``HTTP(S)_PROXY``, ``ALL_PROXY``; and
  ``.netrc``) and any ``proxy`` the step names, unless the credential sets ``proxy: true``.
  The request then goes direct: a manifest author cannot route the worker's secrets
  through a proxy of their choosing, and an operator's proxy sees them only when the
  operator said so. (``SSL_CERT_FILE``/``SSL_CERT_DIR`` still apply.)
* **No TLS-off unless the credential allows it.** ``stored_credentials``/``lookup_auth``
  with ``verify=False`` fail the step (terminal) with an error naming the
  ``insecureSkipTLSVerify`` opt-in, instead of sending the secret unverified.
* **Redirects keep it at its origin.** httpx drops ``Authorization`` when it follows a
  redirect to another scheme, host or port (only an http -> https upgrade on the same
  host keeps it); ``tests/integration/test_credentials_routing.py`` checks this.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import httpx

from activities import credentials
from activities.credentials import CredentialsError, redact_url
from activities.heartbeat import Heartbeat, heartbeating  # noqa: F401 (the HTTP callers use http_client.heartbeating)
from activities.pairs import PairsError, name_value_list
from activities.steps.base import step_failed


#: Methods the http step accepts (Kargo's schema).
METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def auth_header(creds: credentials.Credentials | None) -> dict[str, str]:
    """``Authorization`` for matched credentials: username and password as basic auth,
    a password (token) without a username as a bearer token."""
    if creds is None or not creds.password:
        return {}
    if creds.username:
        raw = f"{creds.username}:{creds.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    return {"Authorization": f"Bearer {creds.password}"}


def find_stored(url: str, *types: str, verify: bool = True) -> credentials.Credentials | None:
    """The stored credentials for ``url`` (the first of ``types`` with a match), checked
    against how the request will be sent: CredentialScopeError when TLS verification is
    off and the credential does not allow that; CredentialsError for a broken store."""
    for t in types:
        if t not in credentials.TYPES:
            continue
        creds = credentials.lookup(url, t)  # type: ignore[arg-type]
        if creds is not None:
            credentials.check_tls(creds, url, verify=verify)
            return creds
    return None


def stored_credentials(url: str, type: credentials.CredentialType, *, verify: bool = True) -> credentials.Credentials | None:
    """``find_stored`` for steps: a broken store or a refused credential fails the step
    (terminal: retrying cannot fix either)."""
    try:
        return find_stored(url, type, verify=verify)
    except CredentialsError as e:
        raise step_failed(f"credential configuration: {e}") from None


def lookup_auth(url: str, type: credentials.CredentialType, *, verify: bool = True) -> dict[str, str]:
    """The ``Authorization`` header the credential store holds for ``url``, if any.
    A broken credential configuration is a terminal failure (retrying cannot fix it).
    Build the client with ``client(creds=...)`` (see ``stored_credentials``) so that the
    proxy rule holds too."""
    return auth_header(stored_credentials(url, type, verify=verify))


def name_value_pairs(config: dict[str, Any], field: str) -> list[tuple[str, str]]:
    """Kargo's ``headers`` / ``queryParams`` lists of ``{name, value}`` (``activities.pairs``)."""
    try:
        return name_value_list(config.get(field), field, exact=True, empty_value=False)
    except PairsError as e:
        raise step_failed(f"config field {e.where!r} {e.problem}") from None


def with_params(url: str, pairs: list[tuple[str, str]]) -> str:
    """``url`` with ``pairs`` appended to its query (existing parameters are kept)."""
    if not pairs:
        return url
    from urllib.parse import urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(pairs)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def get_timeout(config: dict[str, Any], default: float, field: str = "timeout") -> float:
    """A Go duration config field, in seconds."""
    from pipeline.durations import parse_duration

    raw = config.get(field)
    if raw is None or raw == "":
        return default
    try:
        seconds = parse_duration(str(raw)).total_seconds()
    except ValueError as e:
        raise step_failed(f"config field {field!r}: {e}") from None
    if seconds <= 0:
        raise step_failed(f"config field {field!r} must be a positive duration, got {raw!r}")
    return seconds


def check_url(url: str, field: str = "url") -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise step_failed(f"config field {field!r} is not a valid URL: {redact_url(str(url))!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise step_failed(f"config field {field!r} must be an http:// or https:// URL: {redact_url(url)!r}")
    return url


def proxy_allowed(creds: credentials.Credentials | None) -> bool:
    """Whether requests carrying ``creds`` may go through a proxy."""
    return creds is None or creds.proxy


def client(
    *,
    timeout: float,
    verify: bool = True,
    follow_redirects: bool = True,
    creds: credentials.Credentials | None = None,
    proxy: str | None = None,
    headers: dict[str, str] | None = None,
    base_url: str = "",
) -> httpx.AsyncClient:
    """A client with one overall timeout. Without ``creds`` it honours the environment's
    proxy variables (httpx's ``trust_env``) or ``proxy``; with ``creds`` (the stored
    credentials its requests will carry) it uses no proxy at all unless the credential
    sets ``proxy: true``. Check TLS first (``stored_credentials(verify=...)``)."""
    allowed = proxy_allowed(creds)
    ssl_context = httpx.create_ssl_context(verify=verify, trust_env=True)  # SSL_CERT_FILE either way
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        verify=ssl_context,
        follow_redirects=follow_redirects,
        trust_env=allowed,
        proxy=proxy if allowed else None,
        headers=headers,
        base_url=base_url,
    )


def transport_error(what: str, e: httpx.HTTPError) -> Exception:
    """A retryable error for a failed connection or timeout, with any URL redacted."""
    from temporalio.exceptions import ApplicationError

    return ApplicationError(f"{what}: {type(e).__name__}: {redact_url(str(e))}", type="HTTPError")


class AtomicFile:
    """A temporary file beside ``target`` that replaces it only on ``commit()``.

    Used by the download steps so a crash never leaves a half-written file at
    ``outPath``. ``target`` is a place ``resolve_path`` returned whose directory exists
    (``_safe_paths.make_dirs``): the directory is opened without following a link, the
    temporary file is created there with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and renamed over
    the target, so a link at the target is replaced, never written through. Blocking
    calls; use them through ``run_blocking`` or a thread.
    """

    def __init__(self, target: Path) -> None:
        import secrets

        self.target = target
        try:
            self.dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise step_failed(f"config field 'outPath': cannot open the directory of {target.name!r}: {e.strerror}") from None
        self.name = f".{target.name[:180]}.{secrets.token_hex(6)}.tmp"
        self.path = target.parent / self.name
        try:
            fd = os.open(
                self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.dir_fd
            )
        except BaseException:
            os.close(self.dir_fd)
            raise
        self.file = os.fdopen(fd, "wb")
        self.size = 0
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        os.fchmod(self.file.fileno(), 0o644)
        self.file.close()
        if os.path.isdir(self.target) and not os.path.islink(self.target):
            raise step_failed(f"config field 'outPath': {self.target.name!r} is a directory")
        os.replace(self.name, self.target.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        self.committed = True

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if self.dir_fd < 0:
            return
        try:
            if not self.committed:
                os.unlink(self.name, dir_fd=self.dir_fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.dir_fd)
            self.dir_fd = -1


# Idempotent downloads: a download step that ran to the end but whose completion was
# lost (worker restart, heartbeat timeout) runs again and finds its own file in place.
# Without allowOverwrite that must not fail, so each finished download leaves a small
# record naming the step and the source; a file with a matching record counts as done.

_RECORDS = ".gantry/downloads"


def _record_path(base: Path, target: Path) -> Path:
    import hashlib

    rel = os.path.relpath(target, base.resolve())
    return base / _RECORDS / (hashlib.sha256(rel.encode()).hexdigest()[:32] + ".json")


def already_downloaded(base: Path, target: Path, alias: str, source: str) -> bool:
    """True when ``target`` exists and this same step already wrote it from ``source``."""
    import json

    from activities.steps import _safe_paths

    record = _record_path(base, target)
    raw = _safe_paths.read_existing(record)
    if not target.is_file() or raw is None:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return data.get("alias") == alias and data.get("source") == source and data.get("size") == target.stat().st_size


def record_download(base: Path, target: Path, alias: str, source: str) -> None:
    import json

    from activities.steps import _safe_paths

    record = _record_path(base, target)
    data = json.dumps({"alias": alias, "source": source, "size": target.stat().st_size})
    _safe_paths.write_file(base, _safe_paths.root_of(base) / record.relative_to(base), data, field="outPath")
