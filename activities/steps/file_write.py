"""`file-write`: write ``contents`` to a file in the working directory.

As in Kargo an existing file is replaced only with ``overwrite: true``, the file's mode
is ``permissions`` (octal, default ``0600``; no executable, special or world-writable
bits) and nothing may be written into a ``.git`` directory. A missing parent directory
is created. The path may not go through a symbolic link at all, and the file is written
as a new temporary file renamed into place (``activities.steps._safe_paths``).

Idempotent under retry: a file that already holds exactly ``contents`` counts as
written, even without ``overwrite`` (the first attempt made it).
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.file_write import FileWriteConfig

DEFAULT_MODE = 0o600


def parse_permissions(value: str | None) -> int:
    """The mode of an octal ``permissions`` (its form checked by the config model); Gantry
    also refuses executable and world-writable files."""
    if not value:
        return DEFAULT_MODE
    mode = int(value, 8)
    if mode & 0o111:
        raise step_failed(f"config field 'permissions': {value} must not include executable bits")
    if mode & 0o002:
        raise step_failed(f"config field 'permissions': {value} must not be world-writable")
    return mode


def _run(base: Path, config: FileWriteConfig) -> bool:
    path, contents, overwrite = config.path, config.contents, config.overwrite
    mode = parse_permissions(config.permissions)
    target = resolve_path(base, path)
    lexical = Path(os.path.normpath(_safe_paths.root_of(base) / path))
    if target != lexical:
        raise step_failed(f"config field 'path': {path!r} goes through a symbolic link, which file-write refuses")
    if target.is_dir():
        raise step_failed(f"config field 'path': {path!r} is a directory")
    data = contents.encode()
    if os.path.lexists(target):
        existing = _safe_paths.read_existing(target)
        if existing == data and (os.lstat(target).st_mode & 0o777) == mode:
            return False
        if not overwrite:
            raise step_failed(f"config field 'path': file {path!r} already exists; set 'overwrite: true' to replace it")
    _safe_paths.write_file(base, target, data, field="path", mode=mode)
    return True


@activity.defn(name="file-write")
async def file_write(input: StepInput) -> StepResult:
    """Write ``contents`` to ``path``."""
    config = typed_config(FileWriteConfig, input)
    base = require_workdir(input.promotion)
    written = await run_blocking(_run, base, config)
    activity.logger.info("file-write: %s %s", "wrote" if written else "unchanged", config.path)
    return StepResult(message="" if written else "file already had these contents")
