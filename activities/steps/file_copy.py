"""`copy`: copy a file or a directory tree inside the working directory.

As in Kargo: a directory is copied into ``outPath`` (existing files there are
overwritten, others are kept), a file is copied to the file ``outPath``, missing parent
directories are created, symbolic links inside the tree are skipped, ``.git`` is never
copied, and ``ignore`` takes .gitignore-style patterns relative to ``inPath`` (to its
directory when it is a file).

Paths are resolved by ``activities.steps._safe_paths``: ``inPath`` or ``outPath`` that
leads outside the working directory (through a committed link too) or into ``.git`` is
refused. Files are written as new files renamed into place; a symbolic link already in
the destination where copy would write a file or a directory fails the step instead of
being written through.

Idempotent: copying again gives the same files.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.file_copy import CopyConfig


@dataclass
class _Pattern:
    segments: list[str]
    negate: bool
    dir_only: bool
    anchored: bool

    def matches(self, parts: list[str], is_dir: bool) -> bool:
        if not self.anchored:
            glob = self.segments[0]
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if fnmatch.fnmatchcase(part, glob) and (not self.dir_only or not last or is_dir):
                    return True
            return False
        return self._match_from(0, 0, parts, is_dir)

    def _match_from(self, si: int, pi: int, parts: list[str], is_dir: bool) -> bool:
        if si == len(self.segments):
            # the pattern matched a parent directory of the path, or the path itself
            return pi < len(parts) or not self.dir_only or is_dir
        if pi == len(parts):
            return False
        seg = self.segments[si]
        if seg == "**":
            return any(self._match_from(si + 1, k, parts, is_dir) for k in range(pi, len(parts) + 1)) if si + 1 < len(
                self.segments
            ) else True
        if not fnmatch.fnmatchcase(parts[pi], seg):
            return False
        return self._match_from(si + 1, pi + 1, parts, is_dir)


class IgnoreRules:
    """A small .gitignore matcher: the last pattern that matches decides."""

    def __init__(self, text: str) -> None:
        self.patterns: list[_Pattern] = [_Pattern([".git"], False, False, False)]
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line.strip() or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            if line.startswith("\\"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = "/" in line
            line = line.lstrip("/")
            if not line:
                continue
            self.patterns.append(_Pattern(line.split("/"), negate, dir_only, anchored))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        parts = [p for p in rel.split("/") if p]
        for pattern in reversed(self.patterns):
            if pattern.matches(parts, is_dir):
                return not pattern.negate
        return False


def _stream(path: str, field: str, shown: str) -> tuple[Iterator[bytes], os.stat_result]:
    fd = _safe_paths.open_regular(Path(path), field, shown)
    st = os.fstat(fd)

    def chunks() -> Iterator[bytes]:
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return chunks(), st


def _copy_file(src: str, dst_fd: int, name: str, shown: str, src_shown: str = "") -> None:
    """Copy the regular file ``src`` to ``name`` of ``dst_fd`` (mode and times kept), as a
    new file renamed into place: a link at ``name`` is replaced, never written through."""
    chunks, st = _stream(src, "inPath", src_shown or src)
    try:
        _safe_paths.write_at(
            dst_fd, name, chunks, field="outPath", shown=shown,
            mode=stat.S_IMODE(st.st_mode) & 0o777, times=(st.st_atime_ns, st.st_mtime_ns),
        )  # fmt: skip
    finally:
        chunks.close()  # type: ignore[attr-defined]


def _copy_tree(src: Path, dst_fd: int, shown: str, rules: IgnoreRules, rel: str = "") -> int:
    """Copy the directory ``src`` into the directory open as ``dst_fd``.

    Links in the source are skipped and ``.git`` (any case) is never copied; nothing in
    the destination is followed: a link where copy would write is refused."""
    count = 0
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        child_rel = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_symlink() or _safe_paths.is_git(entry.name):
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        if rules.ignored(child_rel, is_dir):
            continue
        child_shown = f"{shown}/{entry.name}"
        have = _safe_paths.lstat_at(dst_fd, entry.name)
        if have is not None and stat.S_ISLNK(have.st_mode):
            where = os.readlink(entry.name, dir_fd=dst_fd)
            raise step_failed(
                f"config field 'outPath': {child_shown!r} is a symbolic link (to {where!r}); copy does not write "
                "through links, which could lead outside the working directory"
            )
        if is_dir:
            if have is not None and not stat.S_ISDIR(have.st_mode):
                os.unlink(entry.name, dir_fd=dst_fd)
                have = None
            if have is None:
                os.mkdir(entry.name, 0o755, dir_fd=dst_fd)
            child_fd = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_fd)
            try:
                count += _copy_tree(Path(entry.path), child_fd, child_shown, rules, child_rel)
            finally:
                os.close(child_fd)
        elif entry.is_file(follow_symlinks=False):
            if have is not None and stat.S_ISDIR(have.st_mode):
                raise step_failed(f"config field 'outPath': {child_shown!r} is in the way (a directory)")
            _copy_file(entry.path, dst_fd, entry.name, child_shown)
            count += 1
    st = os.stat(src, follow_symlinks=False)
    os.chmod(dst_fd, stat.S_IMODE(st.st_mode))
    os.utime(dst_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    return count


def _run(base: Path, config: CopyConfig) -> int:
    in_path, out_path, ignore = config.in_path, config.out_path, config.ignore or ""
    src = resolve_path(base, in_path, "inPath")
    dst = resolve_path(base, out_path, "outPath")
    if not src.exists():
        raise step_failed(f"config field 'inPath': {in_path!r} does not exist")
    rules = IgnoreRules(ignore)
    if src.is_dir():
        if dst == src or src in dst.parents:
            raise step_failed(f"config field 'outPath': {out_path!r} is inside 'inPath' {in_path!r}")
        if dst.exists() and not dst.is_dir():
            raise step_failed(f"config field 'outPath': {out_path!r} is a file but 'inPath' is a directory")
        dst_fd = _safe_paths.open_dir(base, dst, "outPath", create=True)
        try:
            return _copy_tree(src, dst_fd, out_path.rstrip("/"), rules)
        finally:
            os.close(dst_fd)
    if dst.is_dir():
        raise step_failed(f"config field 'outPath': {out_path!r} is a directory; name the destination file")
    if src == dst:
        return 1
    dir_fd = _safe_paths.open_dir(base, dst.parent, "outPath", create=True)
    try:
        _copy_file(str(src), dir_fd, dst.name, out_path, in_path)
    finally:
        os.close(dir_fd)
    return 1


@activity.defn(name="copy")
async def copy(input: StepInput) -> StepResult:
    """Copy ``inPath`` to ``outPath``."""
    config = typed_config(CopyConfig, input)
    base = require_workdir(input.promotion)
    count = await run_blocking(_run, base, config)
    activity.logger.info("copy: %d file(s) from %s to %s", count, config.in_path, config.out_path)
    return StepResult()
