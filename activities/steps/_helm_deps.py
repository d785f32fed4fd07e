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

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from activities import credentials, http_client
from activities.steps import _safe_paths
from activities.steps._helm_lock import (
    Dependency,
    format_lock,
    hash_req,
    read_lock_digest,
    rfc3339nano,
)
from activities.steps._helm_package import archive_chart_name
from activities.steps._helm_repos import (
    TIMEOUT,
    Locked,
    MissingVersions,
    RepoSession,
    describe_dependency,
)
from activities.steps.base import run_blocking, step_failed


async def resolve(chart_dir: Path, root: Path, deps: list[Dependency]) -> list[Locked]:
    """Resolve and download every dependency (nothing is written here)."""
    locked: list[Locked] = []
    missing: list[str] = []
    async with http_client.client(timeout=TIMEOUT) as client, http_client.client(
        timeout=TIMEOUT, creds=credentials.Credentials()
    ) as direct:
        session = RepoSession(client, chart_dir, root, direct)
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
                        f"{describe_dependency(dep)}: repository must be an http(s):// or oci:// URL or a file:// path "
                        "(Helm repository names such as @name are not supported)"
                    )
            except MissingVersions as e:
                missing.append(str(e))
            except httpx.HTTPError as e:
                raise http_client.transport_error(describe_dependency(dep), e) from None
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
    if charts.is_symlink():
        raise step_failed("the chart's 'charts' is a symbolic link; nothing is written through it")
    if charts.exists() and not charts.is_dir():
        raise step_failed("the chart's 'charts' is not a directory")
    if (chart_dir / "Chart.lock").is_symlink():
        raise step_failed("the chart's Chart.lock is a symlink; it is not replaced")


def _write_atomic(dir_fd: int, name: str, data: bytes) -> None:
    """A new file renamed over ``name`` of ``dir_fd``: a link there is replaced, never
    written through (``activities.steps._safe_paths``)."""
    _safe_paths.write_at(dir_fd, name, data, field="path", shown=name, mode=0o644)


def _open_dir(path: Path, *, create: bool) -> int:
    """``path`` (the chart directory or its ``charts``) opened without following a link."""
    if create:
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise step_failed(f"the chart's {path.name!r} is not a directory (or is a symbolic link)") from None


def apply(chart_dir: Path, req: list[Dependency], locked: list[Locked]) -> Applied:
    """Write the archives, remove outdated ones and write Chart.lock when its digest changed."""
    out = Applied()
    charts = chart_dir / "charts"
    charts_fd = _open_dir(charts, create=True)
    try:
        existing = [p for p in charts.iterdir() if p.is_file() and not p.is_symlink()]
        fresh: dict[str, bytes] = {item.archive: item.data for item in locked if item.archive}
        for name, data in fresh.items():
            if _safe_paths.read_existing(charts / name) == data:
                continue
            _write_atomic(charts_fd, name, data)
            out.written.append(name)
    finally:
        os.close(charts_fd)
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
        chart_fd = _open_dir(chart_dir, create=False)
        try:
            _write_atomic(chart_fd, "Chart.lock", format_lock(lock_deps, digest, rfc3339nano()).encode())
        finally:
            os.close(chart_fd)
        out.lock_written = True
    return out
