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

Where a credential goes (the rules that keep it there):

* **Scheme, host and port are compared exactly** (a credential for ``https://h/`` is not
  sent to ``http://h/``, ``https://h:8443/`` or ``https://h.evil/``; only the default
  ports 443 and 80 are dropped, so ``https://h:443/`` is ``https://h/``).
* **Paths are compared as the server will see them:** unreserved percent-escapes
  (``%2e``, ``%41``...) are decoded and dot segments (``.``, ``..``) removed before
  matching, so ``https://h/org-a/../org-b`` and ``https://h/org-a/%2e%2e/org-b`` do not
  match a credential for ``https://h/org-a``. A path that is still ambiguous after that
  (an encoded ``/`` or ``\\`` (``%2F``, ``%5C``), a ``\\``, ``%00``, a ``..;`` segment,
  or an empty segment before a ``..``) never matches a credential that names a path,
  nor a ``urlRegex``; a credential for the whole host (no path) still matches it.
  Regular expressions are matched against the URL in this canonical form.
* **Two opt-ins widen how a credential may be sent** (both off by default):

  ==================================  ===========================================
  file key / env suffix               allows
  ==================================  ===========================================
  ``proxy: true`` /                   sending it through the worker's configured
  ``_PROXY=true``                     HTTP(S) proxy (``HTTPS_PROXY``...) or an
                                      ``http`` step's ``proxy``; otherwise requests
                                      that carry it go direct
  ``insecureSkipTLSVerify: true`` /   sending it over a connection whose TLS
  ``_INSECURE_SKIP_TLS_VERIFY=true``  verification is off; otherwise such a
                                      request fails with an error naming this key
  ==================================  ===========================================

* **OCI token realms** (types ``image`` and ``helm``): the registry's basic credentials
  go to the token service a registry names in its ``WWW-Authenticate`` challenge only
  when that realm is on the registry's own host name over https (or over the scheme the
  registry itself is reached with, plain http for loopback registries), is Docker Hub's
  ``https://auth.docker.io/`` for Docker Hub, or starts with one of the credential's
  ``tokenRealms`` (``_TOKEN_REALMS``, comma-separated https URL prefixes, e.g.
  ``https://gitlab.example.com/jwt/auth`` for GitLab's registry). Any other realm is
  asked for a token anonymously, as Docker does for a realm it has no credentials for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

CredentialType = Literal["git", "helm", "image", "argocd", "http"]
TYPES: tuple[str, ...] = ("git", "helm", "image", "argocd", "http")

ENV_FILE = "GANTRY_CREDENTIALS_FILE"
_ENV_RE = re.compile(
    r"^GANTRY_(GIT|HELM|IMAGE|ARGOCD|HTTP)_CREDENTIALS_([A-Za-z0-9]+)_"
    r"(URL_REGEX|URL|USERNAME|PASSWORD_FILE|PASSWORD|TOKEN_REALMS|TOKEN|PROXY|INSECURE_SKIP_TLS_VERIFY)$"
)


class CredentialsError(Exception):
    """The credential configuration itself is broken (bad file, bad regex)."""


class CredentialScopeError(CredentialsError):
    """A matched credential may not be sent the way this request would send it (TLS
    verification off without ``insecureSkipTLSVerify``). Retrying cannot help: the fix is
    in the credential's configuration or the step's."""


@dataclass(frozen=True)
class Credentials:
    """One matched secret. ``repr`` hides the password so it cannot leak into logs."""

    username: str = ""
    password: str = field(default="", repr=False)
    source: str = ""  # where it came from, for log lines ("env GANTRY_GIT_CREDENTIALS_1", "file:...#3")
    #: may be sent through the worker's configured HTTP(S) proxy (``proxy: true``)
    proxy: bool = False
    #: may be sent over a connection whose TLS verification is off (``insecureSkipTLSVerify: true``)
    insecure_skip_tls_verify: bool = False
    #: URL prefixes of OCI token services this credential may be sent to besides the
    #: registry's own host (``tokenRealms``)
    token_realms: tuple[str, ...] = ()
    #: the URL prefix (normalised) this credential was matched by, or for a ``urlRegex``
    #: credential the URL it was looked up for: where git's askpass may answer with it
    scope: str = ""

    def opt_in(self, file_key: str, env_suffix: str) -> str:
        """How to set an opt-in on this credential, for error messages."""
        if self.source.startswith("env "):
            return f"{self.source[4:]}_{env_suffix}=true"
        return f"{file_key}: true on {self.source.removeprefix('file ')}"


@dataclass(frozen=True)
class _Entry:
    type: str
    prefix: str | None
    regex: re.Pattern[str] | None
    creds: Credentials


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.*)$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_NETLOC_OK = re.compile(r"^[A-Za-z0-9._~%!$&'()*+,;=:@\[\]-]*$")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _decode_unreserved(path: str) -> str:
    """Decode percent-escapes of unreserved characters; other escapes in upper case."""

    def one(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return re.sub(r"%([0-9A-Fa-f]{2})", one, path)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on a split path."""
    segments = path.split("/")
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if out and not (len(out) == 1 and out[0] == ""):
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments and segments[-1] in (".", ".."):
        out.append("")
    return "/".join(out)


def _collapse(path: str) -> str:
    return re.sub(r"/{2,}", "/", path)


def canonical_path(path: str) -> str | None:
    """``path`` as a server will resolve it: unreserved escapes decoded, dot segments
    removed, repeated ``/`` collapsed. None when servers may disagree about it: an
    encoded ``/`` or ``\\`` or NUL left after decoding, a ``\\``, a ``.;``/``..;``
    segment, or an empty segment that a ``..`` would resolve differently."""
    p = _decode_unreserved(path)
    if "\\" in p or re.search(r"%(2F|5C|00)", p):
        return None
    if any(re.match(r"^\.\.?;", seg) for seg in p.split("/")):
        return None
    resolved = _remove_dot_segments(p)
    if _collapse(resolved) != _remove_dot_segments(_collapse(p)):
        return None  # "/a//../b": "/a/b" to some servers, "/b" to others
    return _collapse(resolved)


def _split(url: str) -> tuple[str, str, str] | None:
    """``(origin, path, query)`` of ``url`` in canonical form, path not yet resolved:
    origin is ``scheme://host[:port]`` in lower case without userinfo or a default port
    (``ssh://host`` for scp-like ``git@host:path``, ``//host`` for a schemeless
    ``host/path`` such as an image repository). None for a URL whose authority cannot
    be read unambiguously."""
    url = url.strip()
    if _SCHEME.match(url):
        scheme = _SCHEME.match(url).group(1).lower()  # type: ignore[union-attr]
    else:
        scp = _SCP.match(url)
        if scp:
            url, scheme = f"ssh://{scp.group(1)}/{scp.group(2)}", "ssh"
        else:
            url, scheme = "//" + url, ""
    parts = urlsplit(url)
    if not _NETLOC_OK.match(parts.netloc):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}" if scheme else f"//{host}", parts.path, parts.query


def _trim(path: str) -> str:
    while path.endswith("/") or path.endswith(".git"):
        path = path[:-1] if path.endswith("/") else path[:-4]
    return path


def normalize_url(url: str) -> str:
    """Canonical form for matching: no userinfo, lower-case scheme and host, no default
    port, the path resolved (``canonical_path``), no trailing ``/`` or ``.git``.
    scp-like ``git@host:org/repo`` becomes ``ssh://host/org/repo``."""
    split = _split(url)
    if split is None:
        return redact_url(url.strip())
    origin, path, query = split
    path = canonical_path(path) or path
    out = origin.removeprefix("//") + _trim(path)
    return out + (f"?{query}" if query else "")


def redact_url(url: str) -> str:
    """The text with the whole userinfo (``user:password@``) of every URL in it removed,
    for messages and logs. The password may contain ``@``: everything up to the last ``@``
    before the next ``/`` (or whitespace) goes."""
    return re.sub(r"(://)[^/\s]*@", r"\1", url)


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
        creds = Credentials(
            username=g.get("USERNAME", ""),
            password=password,
            source=where,
            proxy=_flag(g.get("PROXY"), f"{where}_PROXY"),
            insecure_skip_tls_verify=_flag(g.get("INSECURE_SKIP_TLS_VERIFY"), f"{where}_INSECURE_SKIP_TLS_VERIFY"),
            token_realms=_realms([r for r in (g.get("TOKEN_REALMS") or "").split(",") if r.strip()], f"{where}_TOKEN_REALMS"),
        )
        entries.append(
            _Entry(
                type=ctype,
                prefix=g["URL"] if g.get("URL") else None,
                regex=_compile(g["URL_REGEX"], where) if not g.get("URL") else None,
                creds=creds,
            )
        )
    return entries


def read_credentials_file() -> tuple[str, Any] | None:
    """GANTRY_CREDENTIALS_FILE's path and parsed document (None when unset). A YAML error
    names the line only: the text around it may be a secret."""
    path = os.environ.get(ENV_FILE)
    if not path:
        return None
    from ruamel.yaml import YAMLError

    from pipeline.yamlsafe import load as load_yaml

    try:
        return path, load_yaml(Path(path).read_text())
    except OSError as e:
        raise CredentialsError(f"{ENV_FILE}={path}: cannot read: {e.strerror}") from None
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise CredentialsError(f"{ENV_FILE}={path}: not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None


def _file_entries() -> list[_Entry]:
    read = read_credentials_file()
    if read is None:
        return []
    path, doc = read
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
        realms = item.get("tokenRealms") or []
        if isinstance(realms, str):
            realms = [realms]
        if not isinstance(realms, list):
            raise CredentialsError(f"{where}.tokenRealms: expected a list of https URL prefixes")
        creds = Credentials(
            username=str(item.get("username") or ""),
            password=password,
            source=f"file {where}",
            proxy=_flag(item.get("proxy"), f"{where}.proxy"),
            insecure_skip_tls_verify=_flag(item.get("insecureSkipTLSVerify"), f"{where}.insecureSkipTLSVerify"),
            token_realms=_realms([str(r) for r in realms], f"{where}.tokenRealms"),
        )
        entries.append(
            _Entry(
                type=ctype,
                prefix=str(url) if url else None,
                regex=_compile(str(regex), where) if regex else None,
                creds=creds,
            )
        )
    return entries


def _flag(value: object, where: str) -> bool:
    """An opt-in: YAML booleans, or true/false (1/0, yes/no) as text."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise CredentialsError(f"{where}: expected true or false, got {value!r}")


def _realms(values: list[str], where: str) -> tuple[str, ...]:
    out = []
    for v in values:
        v = v.strip()
        if not v.lower().startswith("https://") or _split(v) is None:
            raise CredentialsError(f"{where}: {v!r} is not an https:// URL prefix (token realms are never plain http)")
        out.append(v)
    return tuple(out)


def prefix_matches(prefix: str, url: str) -> bool:
    """True when ``url`` is under the URL prefix ``prefix``: the same origin (scheme, host
    and port exactly) and, when the prefix names a path, the resolved path of ``url`` is
    that path or below it on a segment boundary. An ambiguous path never matches a
    prefix with a path."""
    p, u = _split(prefix), _split(url)
    if p is None or u is None or p[0] != u[0]:
        return False
    want = canonical_path(p[1])
    if want is None:
        return False
    want = _trim(want)
    if not want:
        return True
    got = canonical_path(u[1])
    if got is None:
        return False
    got = _trim(got)
    return got == want or got.startswith(want + "/")


def _regex_subjects(url: str) -> list[str]:
    """What a ``urlRegex`` is matched against: the URL without userinfo, path resolved,
    as written (trailing ``/`` kept) and normalized. Nothing for an ambiguous URL."""
    split = _split(url)
    if split is None:
        return []
    origin, path, query = split
    resolved = canonical_path(path)
    if resolved is None:
        return []
    q = f"?{query}" if query else ""
    written = origin.removeprefix("//") + resolved + q
    subjects = [written, normalize_url(url)]
    if resolved == path:  # nothing to resolve: the URL as written (scp-like forms) too
        subjects.append(redact_url(url.strip()))
    return list(dict.fromkeys(subjects))


def lookup(url: str, type: CredentialType = "git") -> Credentials | None:
    """The credentials for ``url``, or None when nothing matches (anonymous access)."""
    entries = [e for e in _env_entries() + _file_entries() if e.type == type]
    best: _Entry | None = None
    best_len = -1
    for e in entries:
        if e.prefix is not None and prefix_matches(e.prefix, url):
            length = len(normalize_url(e.prefix))
            if length > best_len:
                best, best_len = e, length
    if best is not None:
        return replace(best.creds, scope=normalize_url(best.prefix or ""))
    subjects = _regex_subjects(url)
    for e in entries:
        if e.regex is not None and any(e.regex.search(s) for s in subjects):
            return replace(e.creds, scope=normalize_url(url))
    return None


def check_tls(creds: Credentials | None, url: str, *, verify: bool) -> None:
    """Refuse (CredentialScopeError) to send ``creds`` to ``url`` with TLS verification
    off unless the credential opts in with ``insecureSkipTLSVerify``."""
    if creds is None or verify or creds.insecure_skip_tls_verify:
        return
    raise CredentialScopeError(
        f"{creds.source} matches {redact_url(url)}, but TLS verification is off for this request; "
        "a stored credential is sent without TLS verification only when it allows it: set "
        + creds.opt_in("insecureSkipTLSVerify", "INSECURE_SKIP_TLS_VERIFY")
        + " (or turn TLS verification back on)"
    )
