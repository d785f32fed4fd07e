"""Credentials for git remotes, chart and image registries, Argo CD and HTTP endpoints.

They are looked up *inside* activities, by URL, so a secret never travels through
workflow inputs, results or history. Two sources, both re-read on every lookup so an
operator can rotate a secret without restarting workers:

* environment variables, in groups sharing a name ``<N>`` (any word; numbers are usual)::

      GANTRY_GIT_CREDENTIALS_1_URL=https://github.com/example/
      GANTRY_GIT_CREDENTIALS_1_USERNAME=bot
      GANTRY_GIT_CREDENTIALS_1_PASSWORD=ghp_xxx        # or _TOKEN, or _PASSWORD_FILE
      GANTRY_GIT_CREDENTIALS_1_URL_REGEX=^https://git\\.corp/.*   # instead of _URL

  ``GIT`` may be ``HELM``, ``IMAGE``, ``ARGOCD`` or ``HTTP``.

* a YAML file named by ``GANTRY_CREDENTIALS_FILE``::

      credentials:
      - url: https://github.com/example/      # a URL prefix ...
        type: git
        username: bot
        password: ghp_xxx                     # or token:, or passwordFile: /run/secrets/x
      - urlRegex: ^https://gitlab\\.corp/.*$   # ... or a regular expression
        type: git
        username: oauth2
        token: glpat-xxx

A URL prefix matches a whole path segment ("https://h/org" matches "https://h/org/repo"
but not "https://h/org2/repo"); trailing ``/`` and ``.git`` are ignored and scheme and
host are compared case-insensitively. The longest matching prefix wins; regular
expressions are tried afterwards, in order (environment first, then the file).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

CredentialType = Literal["git", "helm", "image", "argocd", "http"]
TYPES: tuple[str, ...] = ("git", "helm", "image", "argocd", "http")

ENV_FILE = "GANTRY_CREDENTIALS_FILE"
_ENV_RE = re.compile(r"^GANTRY_(GIT|HELM|IMAGE|ARGOCD|HTTP)_CREDENTIALS_([A-Za-z0-9]+)_(URL_REGEX|URL|USERNAME|PASSWORD_FILE|PASSWORD|TOKEN)$")


class CredentialsError(Exception):
    """The credential configuration itself is broken (bad file, bad regex)."""


@dataclass(frozen=True)
class Credentials:
    """One matched secret. ``repr`` hides the password so it cannot leak into logs."""

    username: str = ""
    password: str = field(default="", repr=False)
    source: str = ""  # where it came from, for log lines ("env GANTRY_GIT_CREDENTIALS_1", "file:...#3")


@dataclass(frozen=True)
class _Entry:
    type: str
    prefix: str | None
    regex: re.Pattern[str] | None
    creds: Credentials


def normalize_url(url: str) -> str:
    """Canonical form for matching: no userinfo, lower-case scheme and host, no trailing
    ``/`` or ``.git``. scp-like ``git@host:org/repo`` becomes ``ssh://host/org/repo``."""
    url = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.*)$", url)
    if scp and "://" not in url:
        url = f"ssh://{scp.group(1)}/{scp.group(2)}"
    parts = urlsplit(url)
    if parts.scheme:
        host = (parts.hostname or "").lower()
        if parts.port:
            host = f"{host}:{parts.port}"
        url = urlunsplit((parts.scheme.lower(), host, parts.path, parts.query, ""))
    while url.endswith("/") or url.endswith(".git"):
        url = url[:-1] if url.endswith("/") else url[:-4]
    return url


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` removed, for messages and logs."""
    return re.sub(r"(://)[^/@\s]+@", r"\1", url)


def _read_secret(value: str | None, file: str | None, where: str) -> str:
    if value:
        return value
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as e:
            raise CredentialsError(f"{where}: cannot read password file {file}: {e.strerror}") from None
    return ""


def _compile(regex: str, where: str) -> re.Pattern[str]:
    """Go syntax (RE2), linear-time matching: the object has ``search`` like re.Pattern."""
    from pipeline.goregex import GoRegexError, compile_go

    try:
        return compile_go(regex)  # type: ignore[no-any-return]
    except GoRegexError as e:
        raise CredentialsError(f"{where}: bad urlRegex {regex!r}: {e.detail}") from None


def _env_entries() -> list[_Entry]:
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for name, value in os.environ.items():
        m = _ENV_RE.match(name)
        if m:
            groups.setdefault((m.group(1).lower(), m.group(2)), {})[m.group(3)] = value
    entries = []
    for (ctype, n), g in sorted(groups.items()):
        where = f"env GANTRY_{ctype.upper()}_CREDENTIALS_{n}"
        if not g.get("URL") and not g.get("URL_REGEX"):
            raise CredentialsError(f"{where}: needs _URL or _URL_REGEX")
        password = _read_secret(g.get("PASSWORD") or g.get("TOKEN"), g.get("PASSWORD_FILE"), where)
        entries.append(
            _Entry(
                type=ctype,
                prefix=normalize_url(g["URL"]) if g.get("URL") else None,
                regex=_compile(g["URL_REGEX"], where) if not g.get("URL") else None,
                creds=Credentials(username=g.get("USERNAME", ""), password=password, source=where),
            )
        )
    return entries


def _file_entries() -> list[_Entry]:
    path = os.environ.get(ENV_FILE)
    if not path:
        return []
    from ruamel.yaml import YAMLError

    from pipeline.yamlsafe import load as load_yaml

    try:
        doc = load_yaml(Path(path).read_text())
    except OSError as e:
        raise CredentialsError(f"{ENV_FILE}={path}: cannot read: {e.strerror}") from None
    except YAMLError as e:
        raise CredentialsError(f"{ENV_FILE}={path}: not valid YAML: {e}") from None
    items = doc.get("credentials", []) if isinstance(doc, dict) else doc
    if items is None:
        return []
    if not isinstance(items, list):
        raise CredentialsError(f"{path}: expected a list under 'credentials'")
    entries = []
    for i, item in enumerate(items):
        where = f"{path}: credentials[{i}]"
        if not isinstance(item, dict):
            raise CredentialsError(f"{where}: expected a mapping")
        ctype = str(item.get("type", "git")).lower()
        if ctype not in TYPES:
            raise CredentialsError(f"{where}.type: {ctype!r} is not one of {', '.join(TYPES)}")
        url, regex = item.get("url"), item.get("urlRegex")
        if bool(url) == bool(regex):
            raise CredentialsError(f"{where}: set exactly one of 'url' and 'urlRegex'")
        password = _read_secret(item.get("password") or item.get("token"), item.get("passwordFile"), where)
        entries.append(
            _Entry(
                type=ctype,
                prefix=normalize_url(str(url)) if url else None,
                regex=_compile(str(regex), where) if regex else None,
                creds=Credentials(username=str(item.get("username") or ""), password=password, source=f"file {where}"),
            )
        )
    return entries


def _prefix_matches(prefix: str, url: str) -> bool:
    return url == prefix or url.startswith(prefix + "/") or (prefix.endswith(":") and url.startswith(prefix))


def lookup(url: str, type: CredentialType = "git") -> Credentials | None:
    """The credentials for ``url``, or None when nothing matches (anonymous access)."""
    entries = [e for e in _env_entries() + _file_entries() if e.type == type]
    norm = normalize_url(url)
    best: _Entry | None = None
    for e in entries:
        if e.prefix is not None and _prefix_matches(e.prefix, norm):
            if best is None or len(e.prefix) > len(best.prefix or ""):
                best = e
    if best is not None:
        return best.creds
    raw = redact_url(url)
    for e in entries:
        if e.regex is not None and (e.regex.search(raw) or e.regex.search(norm)):
            return e.creds
    return None
