"""Where a step may read and write: inside the promotion's working directory, never in
``.git``, whatever the cloned repositories commit.

The working directory holds git clones whose content anyone with commit rights controls:
symbolic links to ``/``, ``/etc``, ``../..`` or ``.git``, chains of links, files named
like the outputs a step writes. Every step turns a config path into a place with this
module:

* ``resolve`` walks the path one component at a time from the working directory, as the
  kernel would, but follows a symbolic link only when where it leads stays inside the
  working directory; a link leading out, ``..`` above the working directory, an absolute
  path, a NUL byte or a ``.git`` component (any case, also reached through a link) is a
  terminal step failure that names the config field.
* ``write_file`` writes a temporary file created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` in
  the verified directory and renames it over the target, so a link at the target is
  replaced, never written through; missing directories are made one component at a time
  and a component that is a link is refused (``open_dir``).
* ``read_bytes``/``read_text`` open the resolved file with ``O_NOFOLLOW`` and read only
  regular files.

The threat is committed content, not a process racing the step; still every write goes
through directory file descriptors opened with ``O_NOFOLLOW``, so a link that appears
between the check and the write is refused or replaced, not followed.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections import deque
from pathlib import Path

from activities.steps.base import step_failed

#: Most symbolic links one path may go through (Linux's own limit).
MAX_LINKS = 40

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_git(name: str) -> bool:
    """A path component git treats as its own directory (case-insensitively, as git does
    on case-insensitive file systems)."""
    return name.lower() == ".git"


def _git_refused(field: str, relative: str, via: str = "") -> Exception:
    how = f" through the symbolic link {via}" if via else ""
    return step_failed(
        f"config field {field!r}: {relative!r} leads{how} into a .git directory; steps never read or write inside .git"
    )


def check_text(relative: object, field: str) -> str:
    """The checks that need no file system: a non-empty relative path without NUL bytes
    and without a ``.git`` component."""
    if not isinstance(relative, str) or not relative:
        raise step_failed(f"config field {field!r} must be a non-empty relative path")
    if "\0" in relative:
        raise step_failed(f"config field {field!r} contains a NUL byte, which no path may hold: {relative!r}")
    if os.path.isabs(relative):
        raise step_failed(f"config field {field!r} must be relative to the working directory: {relative!r}")
    if any(is_git(p) for p in relative.replace("\\", "/").split("/")):
        raise _git_refused(field, relative)
    return relative


def root_of(base: Path) -> Path:
    """The working directory with every symbolic link of its own location resolved."""
    return Path(os.path.realpath(base))


def resolve(base: Path, relative: str, field: str = "path", *, follow_final: bool = True) -> Path:
    """The place ``relative`` names below the working directory ``base``, with every
    symbolic link resolved (the final one only with ``follow_final``).

    Links are followed only while they stay inside the working directory and out of
    ``.git``; a missing component ends the walk (the rest is taken as written)."""
    check_text(relative, field)
    root = root_of(base)
    prefixes = {str(root), os.path.abspath(base)}
    pending: deque[str] = deque(relative.split("/"))
    cur: list[str] = []
    links = 0
    via = ""
    missing_at: int | None = None  # where the first missing component is in ``cur``
    while pending:
        name = pending.popleft()
        if name in ("", "."):
            continue
        if name == "..":
            if not cur:
                how = f" through the symbolic link {via}, which points outside it" if via else ""
                raise step_failed(f"config field {field!r}: {relative!r} leaves the working directory{how}")
            cur.pop()
            if missing_at is not None and len(cur) <= missing_at:
                missing_at = None  # back on existing ground: check what follows again
            continue
        if is_git(name):
            raise _git_refused(field, relative, via)
        here = root.joinpath(*cur, name)
        if missing_at is not None:
            cur.append(name)
            continue
        try:
            st = os.lstat(here)
        except (FileNotFoundError, NotADirectoryError):
            missing_at = len(cur)
            cur.append(name)
            continue
        if not stat.S_ISLNK(st.st_mode) or (not pending and not follow_final):
            cur.append(name)
            continue
        links += 1
        shown = "/".join([*cur, name])
        if links > MAX_LINKS:
            raise step_failed(f"config field {field!r}: {relative!r} goes through more than {MAX_LINKS} symbolic links")
        target = os.readlink(here)
        if os.path.isabs(target):
            inside = next((p for p in prefixes if target == p or target.startswith(p.rstrip("/") + "/")), None)
            if inside is None:
                raise step_failed(
                    f"config field {field!r}: {relative!r} goes through the symbolic link {shown!r} -> {target!r}, "
                    "which points outside the working directory"
                )
            cur = []
            target = target[len(inside):]
        via = f"{shown!r} -> {os.readlink(here)!r}"
        pieces = target.split("/")
        if any(is_git(piece) for piece in pieces):
            raise _git_refused(field, relative, via)
        pending.extendleft(reversed(pieces))
    return root.joinpath(*cur)


def relative_to_root(base: Path, path: Path) -> str:
    """``path`` (a resolved place) as shown in messages: relative to the working directory."""
    try:
        return str(path.relative_to(root_of(base))) or "."
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------
# Directories
# ---------------------------------------------------------------------------


def open_dir(base: Path, directory: Path, field: str, *, create: bool) -> int:
    """A file descriptor of ``directory`` (a place ``resolve`` returned), opened one
    component at a time from the working directory without following symbolic links;
    missing components are made when ``create``. The caller closes it."""
    root = root_of(base)
    try:
        parts = Path(directory).relative_to(root).parts
    except ValueError:
        raise step_failed(f"config field {field!r}: {directory} is outside the working directory") from None
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, name in enumerate(parts):
            shown = "/".join(parts[: i + 1])
            if is_git(name) or name in ("", ".", ".."):
                raise _git_refused(field, shown) if is_git(name) else step_failed(
                    f"config field {field!r}: {shown!r} is not a plain directory name"
                )
            try:
                nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise step_failed(f"config field {field!r}: directory {shown!r} does not exist") from None
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = _open_child_dir(fd, name, field, shown)
            except OSError:
                nfd = _open_child_dir(fd, name, field, shown)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_child_dir(fd: int, name: str, field: str, shown: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            st = None
        what = "a symbolic link" if st and stat.S_ISLNK(st.st_mode) else "not a directory"
        raise step_failed(
            f"config field {field!r}: {shown!r} is {what}; steps do not write through it"
        ) from None


def make_dirs(base: Path, directory: Path, field: str) -> None:
    """Create ``directory`` and its missing parents, one component at a time."""
    os.close(open_dir(base, directory, field, create=True))


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


#: what ``_tmp_name`` makes, as a git glob pathspec: git-commit never stages one a worker
#: killed mid-write left behind
TMP_GLOB = ".*.????????????.gantry-tmp"


def _tmp_name(name: str) -> str:
    return f".{name[:180]}.{secrets.token_hex(6)}.gantry-tmp"


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def write_at(
    dir_fd: int,
    name: str,
    chunks: object,
    *,
    field: str,
    shown: str,
    mode: int | None = None,
    times: tuple[int, int] | None = None,
    sync: bool = False,
) -> int:
    """Write ``chunks`` (bytes, or an iterable of bytes) as ``name`` of the directory
    ``dir_fd``: into a new temporary file (``O_EXCL|O_NOFOLLOW``) renamed over ``name``.

    ``mode`` defaults to the mode of the file being replaced, else 0644. A directory at
    ``name`` is refused; a symbolic link there is replaced, never written through.
    Returns the number of bytes written."""
    if is_git(name):
        raise _git_refused(field, shown)
    old = lstat_at(dir_fd, name)
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise step_failed(f"config field {field!r}: {shown!r} is a directory")
    if mode is None:
        mode = stat.S_IMODE(old.st_mode) & 0o777 if old is not None and stat.S_ISREG(old.st_mode) else 0o644
    tmp = _tmp_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    size = 0
    try:
        try:
            for chunk in [chunks] if isinstance(chunks, (bytes, bytearray, memoryview)) else chunks:  # type: ignore[union-attr]
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                    size += n
            os.fchmod(fd, mode)
            if times is not None:
                os.utime(fd, ns=times)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        raise
    return size


def write_file(
    base: Path | None,
    target: Path,
    data: bytes | str,
    *,
    field: str,
    mode: int | None = None,
) -> None:
    """Write ``data`` to ``target`` (a place ``resolve`` returned) atomically, making its
    missing parent directories one at a time. Without ``base`` the parent must exist."""
    raw = data.encode() if isinstance(data, str) else data
    dir_fd = _parent_fd(base, target, field, create=True)
    try:
        write_at(dir_fd, target.name, raw, field=field, shown=_shown(base, target), mode=mode)
    finally:
        os.close(dir_fd)


def _shown(base: Path | None, target: Path) -> str:
    return relative_to_root(base, target) if base is not None else target.name


def _parent_fd(base: Path | None, target: Path, field: str, *, create: bool) -> int:
    if base is not None:
        return open_dir(base, target.parent, field, create=create)
    # the parent is a resolved place: opening it must not meet a link at its last component
    try:
        return os.open(target.parent, _DIR_FLAGS)
    except OSError as e:
        raise step_failed(f"config field {field!r}: cannot open the directory of {target.name!r}: {e.strerror}") from None


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def open_regular(path: Path, field: str, shown: str = "") -> int:
    """A read-only descriptor of the regular file ``path``, not following a final link."""
    shown = shown or path.name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise step_failed(f"config field {field!r}: file {shown!r} does not exist") from None
    except OSError as e:
        if os.path.islink(path):
            raise step_failed(f"config field {field!r}: {shown!r} is a symbolic link; it is not read") from None
        raise step_failed(f"config field {field!r}: cannot read {shown!r}: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise step_failed(f"config field {field!r}: {shown!r} is not a regular file")
    return fd


def read_bytes(path: Path, field: str, shown: str = "") -> bytes:
    """The content of the regular file ``path`` (a place ``resolve`` returned)."""
    fd = open_regular(path, field, shown)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read_text(path: Path, field: str, shown: str = "") -> str:
    data = read_bytes(path, field, shown)
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise step_failed(f"config field {field!r}: cannot read {shown or path.name!r}: {e}") from None


def read_existing(path: Path) -> bytes | None:
    """The content of ``path`` if it is a regular file (not a link), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()


def check_tree(base: Path, directory: Path, field: str) -> None:
    """Refuse a directory (a chart...) that a tool will read as a whole when a symbolic
    link in it, or in a directory it links to, leads outside the working directory or
    into ``.git``."""
    root = root_of(base)
    todo, seen = [Path(directory)], set()
    while todo:
        top = todo.pop()
        if top in seen:
            continue
        seen.add(top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not is_git(d)]
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if not os.path.islink(p):
                    continue
                rel = os.path.relpath(p, root)
                try:
                    real = resolve(base, rel, field)
                except Exception:
                    raise step_failed(
                        f"config field {field!r}: {rel!r} is a symbolic link to {os.readlink(p)!r}, "
                        "which points outside the working directory or into .git"
                    ) from None
                if real.is_dir():
                    todo.append(real)
