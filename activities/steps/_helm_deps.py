"""Helm's ``dependency update`` for one chart directory, written in Python (no ``helm``).

What Helm does, and so what this module does (read from helm/helm's
``pkg/downloader/manager.go`` and ``internal/resolver/resolver.go``):

1. Resolve every dependency of ``Chart.yaml`` to one version:

   * ``http(s)://`` repository: ``<repository>/index.yaml``; among the chart's entries
     that have a download URL, the newest version that satisfies the dependency's
     ``version`` (a version or a range), as written in the index.
   * ``oci://`` repository: a ``version`` that parses as a version is used as it is;
     otherwise the repository's tags (``_`` read as ``+``, strict versions only) are
     listed and the newest match is taken.
   * ``file://`` path: the version of the chart found there, when it satisfies the
     range. The directory is packaged (``.helmignore`` honoured) into the archive.
   * no repository: the chart must already be a directory ``charts/<name>`` whose
     version satisfies the range; the lock keeps the range as written.

2. Download the archives into ``charts/``: ``urls[0]`` of the index entry (a relative URL
   is resolved against the repository URL, whose query is kept) or the chart layer of
   the OCI tag (``+`` written ``_``). Archives of ``charts/`` that were not written now
   are removed, unless they belong to a dependency without a repository (Helm removes
   every chart archive it did not just download).

3. ``Chart.lock``: ``dependencies`` (name, repository, version), ``digest`` (``HashReq``:
   sha256 of the Go JSON encoding of ``[Chart.yaml dependencies, locked dependencies]``)
   and ``generated``. As in Helm, the file is not written when its digest is unchanged,
   so a run with nothing new leaves it (and its ``generated``) alone.

Nothing is written until every dependency is resolved and downloaded: a failure leaves
the chart as it was. Credentials (type ``helm``) come from the credential store and go
into request headers only, never into messages.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
from temporalio.exceptions import ApplicationError

from activities import http_client, oci
from activities.credentials import redact_url
from activities.steps.base import run_blocking, step_failed
from pipeline.discovery.semver import (
    Constraints,
    InvalidConstraint,
    Version,
    compare,
    parse_constraint,
    try_parse_version,
)

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
LEGACY_CHART_LAYER = "application/tar+gzip"
#: seconds for each request to a chart repository or registry
TIMEOUT = 60.0
#: a chart archive larger than this is refused (Helm reads archives into memory too)
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024


# ---------------------------------------------------------------------------
# Helm's chart.Dependency, its JSON encoding and the lock digest
# ---------------------------------------------------------------------------


@dataclass
class Dependency:
    """The fields of Helm's ``chart.Dependency``, in its struct order."""

    name: str
    version: str = ""
    repository: str = ""
    condition: str = ""
    tags: list[str] = field(default_factory=list)
    enabled: bool = False
    import_values: list[Any] = field(default_factory=list)
    alias: str = ""

    def go_json(self) -> dict[str, Any]:
        """The object ``encoding/json`` makes of the struct: field order kept, the
        ``omitempty`` fields left out when empty (``name`` and ``repository`` never)."""
        out: dict[str, Any] = {"name": self.name}
        if self.version:
            out["version"] = self.version
        out["repository"] = self.repository
        if self.condition:
            out["condition"] = self.condition
        if self.tags:
            out["tags"] = list(self.tags)
        if self.enabled:
            out["enabled"] = True
        if self.import_values:
            out["import-values"] = self.import_values
        if self.alias:
            out["alias"] = self.alias
        return out


def go_json_dumps(value: Any) -> str:
    """``json.Marshal`` output: compact, UTF-8, with ``<``, ``>``, ``&``, U+2028 and
    U+2029 escaped as Go's encoder does. Map keys must already be in Go's order
    (struct order for structs, sorted for maps: see ``_plain``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def hash_req(req: Iterable[Dependency], lock: Iterable[Dependency]) -> str:
    """Helm's ``HashReq``: ``sha256:`` + hex sha256 of ``json.Marshal([2][]*Dependency{req, lock})``."""
    data = go_json_dumps([[d.go_json() for d in req], [d.go_json() for d in lock]])
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def _is_bool(value: Any) -> bool:
    from ruamel.yaml.scalarbool import ScalarBoolean

    return isinstance(value, (bool, ScalarBoolean))


def go_string(value: Any) -> str:
    """A Chart.yaml scalar as the string Helm reads into a ``string`` field
    (sigs.k8s.io/yaml turns YAML numbers and booleans into their text)."""
    if value is None:
        return ""
    if _is_bool(value):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        text = repr(float(value))
        return text.removesuffix(".0")
    return str(value)


def _plain(value: Any) -> Any:
    """YAML data as Go's ``any`` holds it after sigs.k8s.io/yaml: maps with sorted keys,
    whole numbers as integers."""
    if isinstance(value, dict):
        return {str(k): _plain(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None:
        return None
    if _is_bool(value):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def dependency_from_yaml(raw: Any, where: str) -> Dependency:
    """One entry of ``dependencies`` in Chart.yaml as Helm reads it."""
    if not isinstance(raw, dict):
        raise step_failed(f"{where} is not a mapping")
    name = go_string(raw.get("name")).strip()
    if not name:
        raise step_failed(f"{where} has no name")
    tags = raw.get("tags") or []
    imports = raw.get("import-values") or []
    if not isinstance(tags, list) or not isinstance(imports, list):
        raise step_failed(f"{where} ({name}): 'tags' and 'import-values' must be lists")
    enabled = raw.get("enabled")
    return Dependency(
        name=name,
        version=go_string(raw.get("version")).strip(),
        repository=go_string(raw.get("repository")).strip(),
        condition=go_string(raw.get("condition")).strip(),
        tags=[go_string(t).strip() for t in tags],
        enabled=(_is_bool(enabled) and bool(enabled)) or (isinstance(enabled, str) and enabled.lower() == "true"),
        import_values=_plain(imports),
        alias=go_string(raw.get("alias")),
    )


# ---------------------------------------------------------------------------
# Chart.lock as Helm writes it (sigs.k8s.io/yaml: JSON, then YAML with sorted keys)
# ---------------------------------------------------------------------------

_YAML11_WORDS = frozenset([
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
    "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
])
_GO_INT = re.compile(r"[-+]?(?:0[bB][01_]+|0[oO]?[0-7_]+|0[xX][0-9a-fA-F_]+|[0-9_]+)")
_GO_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9_]+)?|0[xX][0-9a-fA-F_.]+[pP][-+]?[0-9]+|\.(?:inf|Inf|INF|nan|NaN|NAN))"
)
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?")


def _needs_double_quotes(s: str) -> bool:
    """go-yaml quotes a string (double quotes) when, written plain, it would read back as
    another type: null, a boolean, a number or a timestamp."""
    if s == "" or s in _YAML11_WORDS:
        return True
    if s[0] in "+-.0123456789" and (_GO_INT.fullmatch(s) or _GO_FLOAT.fullmatch(s) or _BASE60.fullmatch(s)):
        return s not in ("+", "-", ".", "_")
    return bool(_TIMESTAMP.fullmatch(s))


def _plain_allowed(s: str) -> bool:
    """Whether the YAML emitter may write ``s`` plain (else it single-quotes it)."""
    if s[0] in " \t" or s[-1] in " \t:" or "\n" in s:
        return False
    if s[0] in "#,[]{}&*!|>'\"%@`":
        return False
    if s[0] in "-?:" and (len(s) == 1 or s[1] in " \t"):
        return False
    if s.startswith(("---", "...")):
        return False
    return ": " not in s and " #" not in s and not any(ord(c) < 0x20 for c in s)


def yaml_string(s: str) -> str:
    if _needs_double_quotes(s):
        return go_json_dumps(s)
    if _plain_allowed(s):
        return s
    if "\n" in s or any(ord(c) < 0x20 for c in s):
        return go_json_dumps(s)
    return "'" + s.replace("'", "''") + "'"


def format_lock(dependencies: list[Dependency], digest: str, generated: str) -> str:
    """The text of ``Chart.lock`` for locked dependencies (name, repository, version)."""
    lines = []
    if dependencies:
        lines.append("dependencies:")
        for d in dependencies:
            lines.append(f"- name: {yaml_string(d.name)}")
            lines.append(f"  repository: {yaml_string(d.repository)}")
            if d.version:
                lines.append(f"  version: {yaml_string(d.version)}")
    else:
        lines.append("dependencies: []")
    lines.append(f"digest: {yaml_string(digest)}")
    lines.append(f"generated: {go_json_dumps(generated)}")
    return "\n".join(lines) + "\n"


def rfc3339nano(ns: int | None = None) -> str:
    """The local time as Go's ``time.Time`` marshals it (``RFC3339Nano``): nanoseconds
    without trailing zeros, ``Z`` for a zero offset."""
    ns = time.time_ns() if ns is None else ns
    seconds, nanos = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(seconds).astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def read_lock_digest(path: Path) -> str | None:
    """The ``digest`` of an existing Chart.lock; None when there is none or it is unreadable."""
    if not path.is_file():
        return None
    try:
        from ruamel.yaml import YAML

        doc = YAML(typ="safe", pure=True).load(path.read_text())
    except Exception:  # noqa: BLE001 - a broken lock is simply rewritten
        return None
    digest = doc.get("digest") if isinstance(doc, dict) else None
    return str(digest) if digest is not None else None


# ---------------------------------------------------------------------------
# Resolving and downloading
# ---------------------------------------------------------------------------


@dataclass
class Locked:
    """A resolved dependency and, unless it lives in ``charts/<name>``, its archive."""

    dep: Dependency
    version: str
    archive: str = ""  # file name in charts/
    data: bytes = b""

    def lock_entry(self) -> Dependency:
        return Dependency(name=self.dep.name, repository=self.dep.repository, version=self.version)


class _Missing(Exception):
    """No version of a dependency satisfies its range (collected, as Helm does)."""


def _where(dep: Dependency) -> str:
    return f"dependency {dep.name!r} (repository {redact_url(dep.repository) or 'charts/'})"


def _constraint(dep: Dependency) -> Constraints:
    try:
        return parse_constraint(dep.version)
    except InvalidConstraint as e:
        raise step_failed(f"{_where(dep)} has an invalid version or range {dep.version!r}: {e}") from None


def _newest(candidates: list[tuple[Version, Any]]) -> Any:
    best: tuple[Version, Any] | None = None
    for v, item in candidates:
        if best is None or compare(v, best[0]) > 0:
            best = (v, item)
    return best[1] if best else None


def resolve_reference_url(base: str, ref: str) -> str:
    """Helm's ``ResolveReferenceURL``: an absolute URL as it is, else relative to the
    repository URL taken as a directory, with the repository's query."""
    if urlsplit(ref).scheme:
        return ref
    parts = urlsplit(base)
    directory = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/", "", ""))
    joined = urlsplit(urljoin(directory, ref))
    return urlunsplit((joined.scheme, joined.netloc, joined.path, parts.query, joined.fragment))


def _index_url(repository: str) -> str:
    parts = urlsplit(repository)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/index.yaml", parts.query, ""))


def _check_response(resp: httpx.Response, where: str, what: str, auth: dict[str, str]) -> None:
    code = resp.status_code
    if code == 200:
        return
    if code in (401, 403):
        who = "with the configured credentials" if auth else "anonymously (no credentials configured)"
        raise step_failed(f"{where}: access to {what} denied {who} (HTTP {code})")
    if code == 429 or code >= 500:
        raise ApplicationError(f"{where}: GET {what} returned HTTP {code}", type="HTTPError")
    raise step_failed(f"{where}: GET {what} returned HTTP {code}")


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), pa.netloc.lower()) == (pb.scheme.lower(), pb.netloc.lower())


async def _read_body(resp: httpx.Response, where: str) -> bytes:
    buf = bytearray()
    beat = http_client.Heartbeat()
    async for chunk in resp.aiter_bytes():
        buf.extend(chunk)
        if len(buf) > MAX_ARCHIVE_BYTES:
            raise step_failed(f"{where}: the chart archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
        beat.tick()
    return bytes(buf)


class _Session:
    """One dependency update: an HTTP client, index and download caches."""

    def __init__(self, client: httpx.AsyncClient, chart_dir: Path, root: Path) -> None:
        self.client = client
        self.chart_dir = chart_dir
        self.root = root
        self.indexes: dict[str, dict[str, Any]] = {}
        self.downloads: dict[str, tuple[str, bytes]] = {}

    # --- http(s) ---------------------------------------------------------------------

    async def _index(self, dep: Dependency) -> dict[str, Any]:
        repository = dep.repository
        if repository in self.indexes:
            return self.indexes[repository]
        from activities.discovery.charts import parse_index

        where = _where(dep)
        auth = http_client.lookup_auth(repository, "helm")
        resp = await http_client.heartbeating(self.client.get(_index_url(repository), headers=auth))
        _check_response(resp, where, "index.yaml", auth)
        try:
            index = await asyncio.to_thread(parse_index, resp.content)
        except Exception as e:  # noqa: BLE001 - any parser failure means a broken index
            raise step_failed(f"{where}: index.yaml is not a valid chart repository index ({type(e).__name__})") from None
        self.indexes[repository] = index
        return index

    async def http(self, dep: Dependency) -> Locked:
        where = _where(dep)
        constraint = _constraint(dep)
        index = await self._index(dep)
        entries = (index.get("entries") or {}).get(dep.name)
        if not isinstance(entries, list) or not entries:
            raise step_failed(f"{where}: the repository has no chart named {dep.name!r}")
        candidates = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("urls") or entry.get("version") is None:
                continue
            v = try_parse_version(str(entry["version"]))
            if v is not None and constraint.check(v):
                candidates.append((v, entry))
        entry = _newest(candidates)
        if entry is None:
            raise _Missing(f"{where}: no version matches {dep.version!r}")
        version = str(entry["version"])
        url = resolve_reference_url(dep.repository, str(entry["urls"][0]))
        if url not in self.downloads:
            # credentials go only to the repository's own scheme and host
            auth = http_client.lookup_auth(dep.repository, "helm") if _same_origin(url, dep.repository) else {}
            what = f"chart archive {redact_url(url)}"
            async with self.client.stream(
                "GET", url, headers={**auth, "Accept": "application/gzip,application/octet-stream"}
            ) as resp:
                _check_response(resp, where, what, auth)
                data = await _read_body(resp, where)
            name = posixpath.basename(unquote(urlsplit(url).path))
            if not name or name in (".", "..") or "\\" in name:
                name = f"{dep.name}-{version}.tgz"
            self.downloads[url] = (name, data)
        name, data = self.downloads[url]
        return Locked(dep, version, name, data)

    # --- oci:// ----------------------------------------------------------------------

    async def oci(self, dep: Dependency) -> Locked:
        where = _where(dep)
        constraint = _constraint(dep)
        try:
            ref = oci.parse_repository(dep.repository.rstrip("/") + "/" + dep.name)
        except ValueError as e:
            raise step_failed(f"{where}: {e}") from None
        reg = oci.Registry(ref, self.client, oci.lookup_credentials(ref))
        try:
            if try_parse_version(dep.version) is not None:
                version = dep.version
            else:
                tags = await http_client.heartbeating(reg.tags())
                candidates = []
                for tag in tags:
                    text = tag.replace("_", "+")
                    v = None if text.startswith("v") else try_parse_version(text, strict=True)
                    if v is not None and constraint.check(v):
                        candidates.append((v, str(v)))
                version = _newest(candidates)
                if version is None:
                    raise _Missing(f"{where}: no tag matches {dep.version!r}")
            key = f"{ref.registry}/{ref.repository}:{version}"
            if key not in self.downloads:
                self.downloads[key] = (f"{dep.name}-{version}.tgz", await self._oci_chart(reg, version, where))
        except oci.NotFound as e:
            raise _Missing(f"{where}: {e}") from None
        except oci.OCIError as e:
            raise step_failed(f"{where}: {e}") from None
        except ApplicationError as e:
            if e.type == "StepFailed":
                raise
            raise ApplicationError(f"{where}: {e.message}", type=e.type or "OCIError", non_retryable=e.non_retryable) from None
        name, data = self.downloads[key]
        return Locked(dep, version, name, data)

    async def _oci_chart(self, reg: oci.Registry, version: str, where: str) -> bytes:
        tag = version.replace("+", "_")
        manifest, media, _ = await http_client.heartbeating(reg.manifest(tag))
        layers = manifest.get("layers") if isinstance(manifest, dict) else None
        if not isinstance(layers, list):
            raise step_failed(f"{where}: tag {tag!r} is not a chart (manifest type {media!r})")
        layer = next((x for x in layers if isinstance(x, dict) and x.get("mediaType") == CHART_LAYER), None)
        layer = layer or next((x for x in layers if isinstance(x, dict) and x.get("mediaType") == LEGACY_CHART_LAYER), None)
        if layer is None or not layer.get("digest"):
            raise step_failed(f"{where}: tag {tag!r} has no Helm chart layer ({CHART_LAYER})")
        if int(layer.get("size") or 0) > MAX_ARCHIVE_BYTES:
            raise step_failed(f"{where}: the chart archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
        resp = await reg.blob(str(layer["digest"]))
        try:
            data = await _read_body(resp, where)
        finally:
            await resp.aclose()
        algo, _, expected = str(layer["digest"]).partition(":")
        if algo == "sha256" and hashlib.sha256(data).hexdigest() != expected.lower():
            raise ApplicationError(f"{where}: the chart layer of {tag!r} arrived corrupted (digest mismatch)", type="OCIError")
        return data

    # --- local charts ----------------------------------------------------------------

    def local_dir(self, dep: Dependency) -> Locked:
        """No repository: ``charts/<name>`` is the chart; the lock keeps the range."""
        where = _where(dep)
        constraint = _constraint(dep)
        meta = _chart_meta(self.chart_dir / "charts" / dep.name, where)
        v = try_parse_version(meta["version"])
        if v is None or not constraint.check(v):
            raise _Missing(f"{where}: charts/{dep.name} is version {meta['version']!r}, which does not match {dep.version!r}")
        return Locked(dep, dep.version)

    def file(self, dep: Dependency) -> Locked:
        """``file://``: package the chart directory (it must be inside the working directory)."""
        where = _where(dep)
        constraint = _constraint(dep)
        rel = dep.repository[len("file://"):]
        if not rel or os.path.isabs(rel):
            raise step_failed(f"{where}: a file:// path must be relative to the chart")
        path = (self.chart_dir / rel).resolve()
        root = self.root.resolve()
        if path != root and root not in path.parents:
            raise step_failed(f"{where}: the path leaves the working directory")
        meta = _chart_meta(path, where)
        v = try_parse_version(meta["version"])
        if v is None or not constraint.check(v):
            raise _Missing(f"{where}: the chart there is version {meta['version']!r}, which does not match {dep.version!r}")
        data = package_chart(path, meta["name"], root, where)
        return Locked(dep, meta["version"], f"{meta['name']}-{meta['version']}.tgz", data)


def _chart_meta(path: Path, where: str) -> dict[str, str]:
    chart = path / "Chart.yaml"
    if not chart.is_file():
        raise step_failed(f"{where}: {path.name} is not a chart directory (no Chart.yaml)")
    try:
        from ruamel.yaml import YAML

        doc = YAML(typ="safe", pure=True).load(chart.read_text())
    except Exception as e:  # noqa: BLE001
        raise step_failed(f"{where}: {path.name}/Chart.yaml is not valid YAML ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not doc.get("name") or doc.get("version") is None:
        raise step_failed(f"{where}: {path.name}/Chart.yaml has no name or version")
    return {"name": go_string(doc["name"]), "version": go_string(doc["version"])}


# --- packaging a file:// chart ------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` pattern as a regular expression (``*`` and ``?`` stop at ``/``)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise ValueError(f"bad pattern {pattern!r}")
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


@dataclass
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    must_dir: bool
    basename: bool


def helmignore_rules(text: str) -> list[_Rule]:
    """``.helmignore`` as Helm's ``pkg/ignore`` parses it, plus its default ``templates/.?*``."""
    rules = []
    for line in [*text.lstrip("\ufeff").splitlines(), "templates/.?*"]:
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        if "**" in rule:
            raise ValueError("double-star (**) syntax is not supported")
        negate = rule.startswith("!")
        rule = rule[1:] if negate else rule
        must_dir = rule.endswith("/")
        rule = rule.rstrip("/") if must_dir else rule
        basename = "/" not in rule
        rules.append(_Rule(_glob_regex(rule.lstrip("/")), negate, must_dir, basename))
    return rules


def ignored(rules: list[_Rule], path: str, is_dir: bool) -> bool:
    """Helm's ``Rules.Ignore`` (including its handling of negated rules)."""
    for r in rules:
        name = posixpath.basename(path) if r.basename else path
        if r.negate:
            if (r.must_dir and not is_dir) or not r.regex.fullmatch(name):
                return True
            continue
        if r.must_dir and not is_dir:
            continue
        if r.regex.fullmatch(name):
            return True
    return False


def package_chart(path: Path, name: str, root: Path, where: str) -> bytes:
    """A chart directory as a ``.tgz`` under ``<name>/``, made reproducibly (sorted entries,
    fixed times and modes) so that packaging the same files twice gives the same bytes."""
    ignore_file = path / ".helmignore"
    try:
        rules = helmignore_rules(ignore_file.read_text() if ignore_file.is_file() else "")
    except ValueError as e:
        raise step_failed(f"{where}: .helmignore: {e}") from None
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        rel_dir = os.path.relpath(dirpath, path).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        real = Path(dirpath).resolve()
        if real != root and root not in real.parents:
            raise step_failed(f"{where}: {rel_dir or '.'} leads outside the working directory")
        dirnames[:] = sorted(d for d in dirnames if not ignored(rules, posixpath.join(rel_dir, d), True))
        for f in filenames:
            rel = posixpath.join(rel_dir, f)
            if ignored(rules, rel, False):
                continue
            full = Path(dirpath) / f
            target = full.resolve()
            if target != root and root not in target.parents:
                raise step_failed(f"{where}: {rel} leads outside the working directory")
            if not target.is_file():
                raise step_failed(f"{where}: {rel} is not a regular file")
            files.append((rel, full))
    files.sort(key=lambda item: (item[0] != "Chart.yaml", item[0]))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, full in files:
            data = full.read_bytes()
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def archive_chart_name(path: Path) -> str | None:
    """The chart name of a chart archive in ``charts/``; None when the file is no chart."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                parts = member.name.lstrip("./").split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == "Chart.yaml":
                    f = tar.extractfile(member)
                    if f is None:
                        return None
                    from ruamel.yaml import YAML

                    doc = YAML(typ="safe", pure=True).load(f.read(1024 * 1024))
                    return go_string(doc.get("name")) if isinstance(doc, dict) and doc.get("name") else None
    except Exception:  # noqa: BLE001 - anything unreadable is not a chart archive
        return None
    return None


async def resolve(chart_dir: Path, root: Path, deps: list[Dependency]) -> list[Locked]:
    """Resolve and download every dependency (nothing is written here)."""
    locked: list[Locked] = []
    missing: list[str] = []
    async with http_client.client(timeout=TIMEOUT) as client:
        session = _Session(client, chart_dir, root)
        for dep in deps:
            repo = dep.repository
            try:
                if repo == "":
                    locked.append(await run_blocking(session.local_dir, dep))
                elif repo.startswith("file://"):
                    locked.append(await run_blocking(session.file, dep))
                elif repo.startswith("oci://"):
                    locked.append(await session.oci(dep))
                elif repo.lower().startswith(("http://", "https://")):
                    locked.append(await session.http(dep))
                else:
                    raise step_failed(
                        f"{_where(dep)}: repository must be an http(s):// or oci:// URL or a file:// path "
                        "(Helm repository names such as @name are not supported)"
                    )
            except _Missing as e:
                missing.append(str(e))
            except httpx.HTTPError as e:
                raise http_client.transport_error(_where(dep), e) from None
    if missing:
        raise step_failed(
            f"no version to lock for {len(missing)} chart dependenc{'y' if len(missing) == 1 else 'ies'}: "
            + "; ".join(missing)
        )
    return locked


# ---------------------------------------------------------------------------
# Writing charts/ and Chart.lock
# ---------------------------------------------------------------------------


@dataclass
class Applied:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    lock_written: bool = False


def check_layout(chart_dir: Path) -> None:
    """Fail before any download when Helm would refuse to write."""
    charts = chart_dir / "charts"
    if charts.exists() and not charts.is_dir():
        raise step_failed("the chart's 'charts' is not a directory")
    if (chart_dir / "Chart.lock").is_symlink():
        raise step_failed("the chart's Chart.lock is a symlink; it is not replaced")


def _write_atomic(target: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(name, 0o644)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def apply(chart_dir: Path, req: list[Dependency], locked: list[Locked]) -> Applied:
    """Write the archives, remove outdated ones and write Chart.lock when its digest changed."""
    out = Applied()
    charts = chart_dir / "charts"
    charts.mkdir(exist_ok=True)
    existing = [p for p in charts.iterdir() if p.is_file()]
    fresh: dict[str, bytes] = {item.archive: item.data for item in locked if item.archive}
    for name, data in fresh.items():
        target = charts / name
        if target.is_file() and target.read_bytes() == data:
            continue
        _write_atomic(target, data)
        out.written.append(name)
    local = {d.name for d in req if d.repository == ""}
    for path in existing:
        if path.name in fresh:
            continue
        chart_name = archive_chart_name(path)
        if chart_name is None or chart_name in local:
            continue
        path.unlink()
        out.removed.append(path.name)
    lock_deps = [item.lock_entry() for item in locked]
    digest = hash_req(req, lock_deps)
    lock_path = chart_dir / "Chart.lock"
    if read_lock_digest(lock_path) != digest:
        _write_atomic(lock_path, format_lock(lock_deps, digest, rfc3339nano()).encode())
        out.lock_written = True
    return out
