"""`untar`: extract a tar file (gzipped or not, told apart by its first bytes) into a
directory of the working directory.

As in Kargo: ``stripComponents`` drops leading path parts (an entry with no more parts is
skipped); ``ignore`` takes .gitignore patterns; a file may hold at most 50 MiB and all of
them 100 MiB; the archive is extracted into a scratch directory beside ``outPath`` which
then replaces ``outPath`` whole, so a failed extraction leaves ``outPath`` as it was.

An archive is untrusted content. Where Kargo skips an unsafe entry quietly, this step
refuses the whole archive, naming the entry: an absolute name or one with a ``..`` part, a
device, FIFO or hard link, or a symbolic link that is absolute or leads (also through other
links of the archive) out of the extracted tree. ``.git`` entries are skipped, as Kargo's
default ignore does. Nothing is ever written through a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._typed_config import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from activities.steps.file_copy import IgnoreRules
from contracts.step_configs.untar import UntarConfig

MAX_FILE = 50 << 20
MAX_TOTAL = 100 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class _Refused(Exception):
    """An entry that makes the archive unsafe to extract."""


def _entry_name(member: tarfile.TarInfo, strip: int) -> str | None:
    """The entry's path below the output directory (after ``stripComponents``), None to
    skip it; an unsafe one refuses the archive."""
    name = member.name
    if "\0" in name or "\\" in name:
        raise _Refused(f"entry {name!r} holds a NUL byte or a backslash")
    raw = name.split("/")
    if strip:
        if len(raw) <= strip:
            return None
        raw = raw[strip:]
    if raw and raw[0] == "":
        raise _Refused(f"entry {name!r} is an absolute path")
    parts = [p for p in raw if p not in ("", ".")]
    if ".." in parts:
        raise _Refused(f"entry {name!r} has a '..' part and would land outside the output directory")
    if not parts or any(_safe_paths.is_git(p) for p in parts):
        return None
    return "/".join(parts)


def _check_kind(member: tarfile.TarInfo) -> None:
    if member.isdev() or member.isfifo():
        raise _Refused(f"entry {member.name!r} is a device or FIFO")
    if member.islnk():
        raise _Refused(f"entry {member.name!r} is a hard link")
    if member.issym():
        link = member.linkname
        if not link or "\0" in link or link.startswith("/"):
            raise _Refused(f"symbolic link {member.name!r} -> {link!r} is absolute or empty")
        if any(_safe_paths.is_git(p) for p in link.split("/")):
            raise _Refused(f"symbolic link {member.name!r} -> {link!r} leads into .git")
    elif not (member.isreg() or member.isdir()):
        raise _Refused(f"entry {member.name!r} is of a kind tar steps do not extract ({member.type!r})")


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(1 << 20):
        yield chunk


def _open_archive(f: IO[bytes]) -> tarfile.TarFile:
    gz = f.read(2) == _GZIP_MAGIC
    f.seek(0)
    return tarfile.open(fileobj=f, mode="r|gz" if gz else "r|")


def _extract(base: Path, archive_file: IO[bytes], scratch: Path, config: UntarConfig) -> tuple[int, set[str]]:
    """Extract into ``scratch``; the number of entries written and the links made."""
    rules = IgnoreRules(config.ignore or "")
    total = count = 0
    links: set[str] = set()
    with _open_archive(archive_file) as archive:
        for member in archive:
            _check_kind(member)
            name = _entry_name(member, config.strip_components)
            if name is None or rules.ignored(name, member.isdir()):
                continue
            place = scratch / name
            parents = name.split("/")[:-1]
            through = next(("/".join(parents[: i + 1]) for i in range(len(parents)) if "/".join(parents[: i + 1]) in links), None)
            if through is not None:
                raise _Refused(f"entry {member.name!r} would be written through the symbolic link {through!r}")
            if member.isdir():
                _safe_paths.make_dirs(base, place, "outPath")
                count += 1
                continue
            if member.isreg():
                if member.size > MAX_FILE:
                    raise _Refused(f"entry {member.name!r} holds {member.size} bytes, more than the {MAX_FILE} a file may hold")
                total += member.size
                if total > MAX_TOTAL:
                    raise _Refused(f"the files of the archive exceed {MAX_TOTAL} bytes in all")
            dir_fd = _safe_paths.open_dir(base, place.parent, "outPath", create=True)
            try:
                if member.isreg():
                    data = archive.extractfile(member)
                    if data is None:
                        raise _Refused(f"entry {member.name!r} has no content")
                    mtime = int(member.mtime) * 1_000_000_000 if 0 <= member.mtime < 1 << 40 else None
                    _safe_paths.write_at(dir_fd, place.name, _chunks(data), field="outPath", shown=name,
                                         mode=member.mode & 0o777, times=(mtime, mtime) if mtime else None)
                else:
                    old = _safe_paths.lstat_at(dir_fd, place.name)
                    if old is not None:
                        if stat.S_ISDIR(old.st_mode):
                            raise _Refused(f"symbolic link {member.name!r} would replace a directory")
                        os.unlink(place.name, dir_fd=dir_fd)
                    os.symlink(member.linkname, place.name, dir_fd=dir_fd)
                    links.add(name)
            finally:
                os.close(dir_fd)
            count += 1
    return count, links


def _check_links(base: Path, scratch: Path, links: set[str]) -> None:
    """Every link of the archive must resolve, through the others, inside the extracted tree."""
    root = _safe_paths.root_of(base)
    for name in sorted(links):
        rel = (scratch / name).relative_to(root).as_posix()
        try:
            real = _safe_paths.resolve(base, rel, "outPath")
        except Exception:
            real = None
        if real is None or not (real == scratch or scratch in real.parents):
            raise _Refused(f"symbolic link {name!r} -> {os.readlink(scratch / name)!r} leads out of the extracted tree")


def _replace(scratch: Path, target: Path) -> None:
    """Put ``scratch`` in the place of ``target``, removing what was there."""
    old = None
    if os.path.lexists(target):
        old = target.with_name(f".{target.name[:180]}.{secrets.token_hex(6)}.gantry-old")
        os.rename(target, old)
    os.rename(scratch, target)
    if old is not None:
        shutil.rmtree(old)


def _run(base: Path, config: UntarConfig) -> int:
    source = resolve_path(base, config.in_path, "inPath")
    target = resolve_path(base, config.out_path, "outPath")
    if target == _safe_paths.root_of(base):
        raise step_failed("config field 'outPath': the output directory must not be the working directory itself")
    if os.path.lexists(target) and not target.is_dir():
        raise step_failed(f"config field 'outPath': {config.out_path!r} exists and is not a directory")
    _safe_paths.make_dirs(base, target.parent, "outPath")
    fd = _safe_paths.open_regular(source, "inPath", config.in_path)
    scratch = target.with_name(f".{target.name[:180]}.{secrets.token_hex(6)}.gantry-untar")
    with os.fdopen(fd, "rb") as archive_file:
        try:
            os.mkdir(scratch, 0o755)
            try:
                count, links = _extract(base, archive_file, scratch, config)
                _check_links(base, scratch, links)
            except _Refused as e:
                raise step_failed(f"config field 'inPath': archive {config.in_path!r} refused: {e}") from None
            except (tarfile.TarError, EOFError, OSError) as e:
                if isinstance(e, OSError) and e.errno is not None:
                    raise  # the disk's trouble, not the archive's: retried
                raise step_failed(f"config field 'inPath': {config.in_path!r} is not a readable tar archive: {e}") from None
            _replace(scratch, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(scratch)
    return count


@activity.defn(name="untar")
async def untar(input: StepInput) -> StepResult:
    """Extract ``inPath`` into ``outPath``."""
    config = typed_config(UntarConfig, input)
    base = require_workdir(input.promotion)
    count = await run_blocking(_run, base, config)
    activity.logger.info("untar: %s -> %s (%d entries)", config.in_path, config.out_path, count)
    return StepResult(message=f"extracted {count} entries of {config.in_path} into {config.out_path}")
