"""Resolving a chart dependency to one version and downloading its archive: http(s)
Helm repositories (index.yaml) and oci:// registries, with credentials of type ``helm``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
from temporalio.exceptions import ApplicationError

from activities import credentials, http_client, oci
from activities.credentials import redact_url
from activities.steps import _safe_paths
from activities.steps._helm_lock import Dependency
from activities.steps._helm_package import chart_meta, package_chart
from activities.steps.base import step_failed
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


class MissingVersions(Exception):
    """No version of a dependency satisfies its range (collected, as Helm does)."""


def describe_dependency(dep: Dependency) -> str:
    return f"dependency {dep.name!r} (repository {redact_url(dep.repository) or 'charts/'})"


def _constraint(dep: Dependency) -> Constraints:
    try:
        return parse_constraint(dep.version)
    except InvalidConstraint as e:
        raise step_failed(f"{describe_dependency(dep)} has an invalid version or range {dep.version!r}: {e}") from None


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


class RepoSession:
    """One dependency update: an HTTP client, index and download caches."""

    def __init__(self, client: httpx.AsyncClient, chart_dir: Path, root: Path, direct: httpx.AsyncClient | None = None) -> None:
        self.client = client
        #: for requests that carry a stored credential: never through a proxy unless the
        #: credential allows it (``http_client.proxy_allowed``)
        self.direct = direct or client
        self.chart_dir = chart_dir
        self.root = root
        self.indexes: dict[str, dict[str, Any]] = {}
        self.downloads: dict[str, tuple[str, bytes]] = {}

    def _client_for(self, creds: credentials.Credentials | None) -> httpx.AsyncClient:
        return self.client if http_client.proxy_allowed(creds) else self.direct

    # --- http(s) ---------------------------------------------------------------------

    async def _index(self, dep: Dependency) -> dict[str, Any]:
        repository = dep.repository
        if repository in self.indexes:
            return self.indexes[repository]
        from activities.discovery.charts import parse_index

        where = describe_dependency(dep)
        creds = http_client.stored_credentials(repository, "helm")
        auth = http_client.auth_header(creds)
        resp = await http_client.heartbeating(self._client_for(creds).get(_index_url(repository), headers=auth))
        _check_response(resp, where, "index.yaml", auth)
        try:
            index = await asyncio.to_thread(parse_index, resp.content)
        except Exception as e:  # noqa: BLE001 - any parser failure means a broken index
            raise step_failed(f"{where}: index.yaml is not a valid chart repository index ({type(e).__name__})") from None
        self.indexes[repository] = index
        return index

    async def http(self, dep: Dependency) -> Locked:
        where = describe_dependency(dep)
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
            raise MissingVersions(f"{where}: no version matches {dep.version!r}")
        version = str(entry["version"])
        url = resolve_reference_url(dep.repository, str(entry["urls"][0]))
        if url not in self.downloads:
            # credentials go only to the repository's own scheme and host
            creds = http_client.stored_credentials(dep.repository, "helm") if _same_origin(url, dep.repository) else None
            auth = http_client.auth_header(creds)
            what = f"chart archive {redact_url(url)}"
            async with self._client_for(creds).stream(
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
        where = describe_dependency(dep)
        constraint = _constraint(dep)
        try:
            ref = oci.parse_repository(dep.repository.rstrip("/") + "/" + dep.name)
        except ValueError as e:
            raise step_failed(f"{where}: {e}") from None
        creds = oci.lookup_credentials(ref)
        reg = oci.Registry(ref, self._client_for(creds), creds)
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
                    raise MissingVersions(f"{where}: no tag matches {dep.version!r}")
            key = f"{ref.registry}/{ref.repository}:{version}"
            if key not in self.downloads:
                self.downloads[key] = (f"{dep.name}-{version}.tgz", await self._oci_chart(reg, version, where))
        except oci.NotFound as e:
            raise MissingVersions(f"{where}: {e}") from None
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
        where = describe_dependency(dep)
        constraint = _constraint(dep)
        meta = chart_meta(self.chart_dir / "charts" / dep.name, where)
        v = try_parse_version(meta["version"])
        if v is None or not constraint.check(v):
            raise MissingVersions(f"{where}: charts/{dep.name} is version {meta['version']!r}, which does not match {dep.version!r}")
        return Locked(dep, dep.version)

    def file(self, dep: Dependency) -> Locked:
        """``file://``: package the chart directory (it must be inside the working directory)."""
        where = describe_dependency(dep)
        constraint = _constraint(dep)
        rel = dep.repository[len("file://"):]
        if not rel or os.path.isabs(rel):
            raise step_failed(f"{where}: a file:// path must be relative to the chart")
        root = self.root.resolve()
        # resolved like every step path: links only while they stay inside, never .git
        try:
            path = _safe_paths.resolve(root, posixpath.join(os.path.relpath(self.chart_dir.resolve(), root), rel), "repository")
        except ApplicationError as e:
            raise step_failed(f"{where}: {e.message.removeprefix('config field ')}") from None
        meta = chart_meta(path, where)
        v = try_parse_version(meta["version"])
        if v is None or not constraint.check(v):
            raise MissingVersions(f"{where}: the chart there is version {meta['version']!r}, which does not match {dep.version!r}")
        data = package_chart(path, meta["name"], root, where)
        return Locked(dep, meta["version"], f"{meta['name']}-{meta['version']}.tgz", data)
