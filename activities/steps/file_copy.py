"""`copy`: copy a file or a directory tree inside the working directory.

As in Kargo: a directory is copied into ``outPath`` (existing files there are
overwritten, others are kept), a file is copied to the file ``outPath``, missing parent
directories are created, symbolic links inside the tree are skipped, ``.git`` is never
copied, and ``ignore`` takes .gitignore-style patterns relative to ``inPath`` (to its
directory when it is a file).

Idempotent: copying again gives the same files.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.steps._common import get_str
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed


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


def _copy_tree(src: Path, dst: Path, rules: IgnoreRules, rel: str = "") -> int:
    count = 0
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        child_rel = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_symlink():
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        if rules.ignored(child_rel, is_dir):
            continue
        target = dst / entry.name
        if is_dir:
            if target.exists() and not target.is_dir():
                target.unlink()
            count += _copy_tree(Path(entry.path), target, rules, child_rel)
        elif entry.is_file(follow_symlinks=False):
            if target.is_symlink() or target.is_dir():
                raise step_failed(f"config field 'outPath': {target.name!r} is in the way (a directory or link)")
            shutil.copy2(entry.path, target)
            count += 1
    shutil.copystat(src, dst)
    return count


def _run(base: Path, config: dict[str, Any]) -> int:
    in_path = get_str(config, "inPath", required=True)
    out_path = get_str(config, "outPath", required=True)
    ignore = config.get("ignore") or ""
    if not isinstance(ignore, str):
        raise step_failed("config field 'ignore' must be a (multi-line) string of .gitignore patterns")
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
        return _copy_tree(src, dst, rules)
    if dst.is_dir():
        raise step_failed(f"config field 'outPath': {out_path!r} is a directory; name the destination file")
    if src == dst:
        return 1
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return 1


@activity.defn(name="copy")
async def copy(input: StepInput) -> StepResult:
    """Copy ``inPath`` to ``outPath``."""
    base = require_workdir(input.promotion)
    count = await run_blocking(_run, base, input.config)
    activity.logger.info("copy: %d file(s) from %s to %s", count, input.config.get("inPath"), input.config.get("outPath"))
    return StepResult()
