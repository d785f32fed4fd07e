"""`delete`: remove files or directories from the working directory.

Config as in Kargo: ``path`` or ``paths`` (one of them), ``pathsAreGlobs`` (``**``
matches across directories, hidden files included) and ``strict`` (fail when a path is
missing or a pattern matches nothing). A symbolic link is removed itself, never what it
points at, and nothing outside the working directory or inside ``.git`` can be named
(a glob skips matches there, and never descends through a symbolic link).

Idempotent: with ``strict: false`` (the default) deleting again finds nothing and
succeeds. With ``strict: true`` a retry after a successful first attempt fails like
Kargo does, since the path is gone.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps.base import MARKER, StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.file_delete import DeleteConfig


def _literal(base: Path, rel: str, field: str) -> Path | None:
    """The path to remove (a final symlink is not followed), or None if it is missing."""
    if rel.rstrip("/") in ("", ".", "./"):
        raise step_failed(f"config field {field!r}: deleting the whole working directory is not allowed")
    _safe_paths.check_text(rel, field)
    head, tail = os.path.split(rel.rstrip("/"))
    parent = resolve_path(base, head or ".", field)
    if tail in (".", ".."):
        target = resolve_path(base, rel, field)
    else:
        target = parent / tail
    if target == base.resolve() or target.name == MARKER and target.parent == base.resolve():
        raise step_failed(f"config field {field!r}: {rel!r} cannot be deleted")
    if not os.path.lexists(target):
        return None
    return target


def _glob(root: Path, pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True, include_hidden=True)`` below ``root``, except
    that the walk never descends through a symbolic link (a committed ``up -> ..`` would
    loop, or take the walk outside) and never enters ``.git``. A match may itself be a
    link: deleting it removes the link."""
    segs = [s for s in pattern.split("/") if s not in ("", ".")]
    found: set[str] = set()

    def entries(rel: str) -> list[tuple[str, bool]]:
        try:
            with os.scandir(root / rel if rel else root) as it:
                return [(e.name, e.is_dir(follow_symlinks=False)) for e in it if not _safe_paths.is_git(e.name)]
        except OSError:
            return []

    def join(rel: str, name: str) -> str:
        return f"{rel}/{name}" if rel else name

    def everything(rel: str) -> None:
        for name, is_dir in entries(rel):
            found.add(join(rel, name))
            if is_dir:
                everything(join(rel, name))

    def walk(rel: str, i: int) -> None:
        if i == len(segs):
            if rel:
                found.add(rel)
            return
        seg, last = segs[i], i == len(segs) - 1
        if seg == "**":
            if last:
                if rel:
                    found.add(rel)
                everything(rel)
                return
            walk(rel, i + 1)
            for name, is_dir in entries(rel):
                if is_dir:
                    walk(join(rel, name), i)
            return
        if seg == "..":
            if rel:
                walk(rel.rpartition("/")[0], i + 1)
            return
        for name, is_dir in entries(rel):
            if fnmatch.fnmatchcase(name, seg) and (last or is_dir):
                walk(join(rel, name), i + 1)

    walk("", 0)
    return sorted(found)


def _globbed(base: Path, pattern: str, field: str) -> list[Path]:
    _safe_paths.check_text(pattern, field)
    found = []
    for match in _glob(_safe_paths.root_of(base), pattern):
        if match == MARKER:
            continue
        try:
            target = _literal(base, match, field)
        except ApplicationError:
            continue  # cannot happen for a match of the walk above; never delete what is refused
        if target is not None:
            found.append(target)
    return found


def _remove(target: Path) -> None:
    if target.is_symlink() or not target.is_dir():
        try:
            target.unlink()
        except FileNotFoundError:
            pass
    else:
        shutil.rmtree(target, ignore_errors=False)


def _run(base: Path, config: DeleteConfig) -> int:
    globs, strict = config.paths_are_globs, config.strict
    entries = [("path", config.path)] if config.path else []
    entries += [(f"paths[{i}]", p) for i, p in enumerate(config.paths or [])]
    targets: list[Path] = []
    for field, rel in entries:
        found = _globbed(base, rel, field) if globs else [t for t in [_literal(base, rel, field)] if t is not None]
        if not found and strict:
            what = "no path matches pattern" if globs else "path does not exist:"
            raise step_failed(f"config field {field!r}: {what} {rel!r} (strict is set)")
        for t in found:
            if t not in targets:
                targets.append(t)
    removed = 0
    for t in targets:
        if os.path.lexists(t):
            _remove(t)
            removed += 1
    return removed


@activity.defn(name="delete")
async def delete(input: StepInput) -> StepResult:
    """Delete ``path`` or ``paths``."""
    config = typed_config(DeleteConfig, input)
    base = require_workdir(input.promotion)
    removed = await run_blocking(_run, base, config)
    activity.logger.info("delete: removed %d path(s)", removed)
    return StepResult()
