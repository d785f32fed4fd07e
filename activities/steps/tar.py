"""`tar`: archive a file or directory of the working directory into a tar file (gzipped
with ``gzip: true``).

As in Kargo: a directory's content is archived relative to it (no ``.`` entry), a file as
its base name; symbolic links are stored as links (never followed, so nothing outside the
working directory is read); ``ignore`` takes .gitignore patterns; one file may hold at most
50 MiB and all of them 100 MiB; an existing ``outPath`` is replaced atomically.

Unlike Kargo, ``.git`` is never archived (Kargo skips it only when ``ignore`` is unset), and
a device, FIFO or socket in the tree fails the step instead of being archived. Entries are
sorted and carry no owner, so the same tree gives the same archive on a retry.
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._typed_config import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from activities.steps.file_copy import IgnoreRules
from contracts.step_configs.tar import TarConfig

MAX_FILE = 50 << 20
MAX_TOTAL = 100 << 20


def _entries(source: Path, rules: IgnoreRules, skip: Path) -> Iterator[tuple[str, Path]]:
    """(name in the archive, place) of everything below ``source``, sorted, ignores applied."""
    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        rel_dir = here.relative_to(source).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in sorted(dirnames):
            if _safe_paths.is_git(name) or rules.ignored(prefix + name, True):
                continue
            if (here / name).is_symlink():
                yield prefix + name, here / name  # a link to a directory is stored as a link
            else:
                kept.append(name)
                yield prefix + name + "/", here / name
        dirnames[:] = kept
        for name in sorted(filenames):
            if _safe_paths.is_git(name) or rules.ignored(prefix + name, False) or here / name == skip:
                continue
            yield prefix + name, here / name


def _add(archive: tarfile.TarFile, name: str, place: Path, shown: str, total: int) -> int:
    st = os.lstat(place)
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode) & 0o777
    info.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(place)
        archive.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        if st.st_size > MAX_FILE:
            raise step_failed(f"config field 'inPath': {shown!r} holds {st.st_size} bytes, more than the "
                              f"{MAX_FILE} a file may hold")
        total += st.st_size
        if total > MAX_TOTAL:
            raise step_failed(f"config field 'inPath': the files to archive exceed {MAX_TOTAL} bytes in all")
        fd = _safe_paths.open_regular(place, "inPath", shown)
        with os.fdopen(fd, "rb") as f:
            info.size = os.fstat(f.fileno()).st_size
            archive.addfile(info, f)
    else:
        raise step_failed(f"config field 'inPath': {shown!r} is a device, FIFO or socket; tar archives "
                          "files, directories and symbolic links only")
    return total


def _write_archive(out: IO[bytes], source: Path, config: TarConfig, base: Path, skip: Path) -> int:
    mode = "w:gz" if config.gzip else "w"
    count = total = 0
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
        if source.is_dir():
            rules = IgnoreRules(config.ignore or "")
            for name, place in _entries(source, rules, skip):
                total = _add(archive, name, place, _safe_paths.relative_to_root(base, place), total)
                count += 1
        else:
            total = _add(archive, source.name, source, config.in_path, total)
            count = 1
    return count


def _run(base: Path, config: TarConfig) -> int:
    source = resolve_path(base, config.in_path, "inPath")
    if not source.exists():
        raise step_failed(f"config field 'inPath': {config.in_path!r} does not exist")
    target = resolve_path(base, config.out_path, "outPath")
    if target.is_dir():
        raise step_failed(f"config field 'outPath': {config.out_path!r} is a directory")
    with tempfile.TemporaryFile() as scratch:  # outside the working directory: never archived
        count = _write_archive(scratch, source, config, base, target)
        scratch.seek(0)
        dir_fd = _safe_paths.open_dir(base, target.parent, "outPath", create=True)
        try:
            _safe_paths.write_at(dir_fd, target.name, iter(lambda: scratch.read(1 << 20), b""),
                                 field="outPath", shown=config.out_path, sync=True)
        finally:
            os.close(dir_fd)
    return count


@activity.defn(name="tar")
async def tar(input: StepInput) -> StepResult:
    """Archive ``inPath`` into ``outPath``."""
    config = typed_config(TarConfig, input)
    base = require_workdir(input.promotion)
    count = await run_blocking(_run, base, config)
    activity.logger.info("tar: %s -> %s (%d entries)", config.in_path, config.out_path, count)
    return StepResult(message=f"archived {count} entries of {config.in_path} into {config.out_path}")
