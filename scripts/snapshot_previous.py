#!/usr/bin/env python
"""Write the worker code of an earlier commit into tests/fixtures/previous/, for the upgrade test.

tests/integration/test_upgrade.py starts a pipeline on a worker running the PREVIOUS code,
then replaces it with a worker running the current code. CI runs on a fresh clone that may
be shallow (or an export with no .git at all), so the previous code cannot come from git
history at test time: it is checked in, as one small compressed tarball of everything a
worker imports (``worker.py`` and the packages below), taken from a pinned commit with
``git archive`` semantics (committed content only, never the work tree).

    python scripts/snapshot_previous.py                 # the pinned commit (PREVIOUS_COMMIT)
    python scripts/snapshot_previous.py --commit <sha>  # move the pin (then update the docs)
    python scripts/snapshot_previous.py --check         # the checked-in tarball is that commit's code

Writes ``tests/fixtures/previous/worker-<sha12>.tar.xz`` and ``index.json`` (the commit,
the archive's name and each file's git blob id), and removes the tarballs of other commits.
The tarball is reproducible: sorted members, the commit's time as every mtime, no owners.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "previous"
#: the commit the recorded histories (tests/fixtures/histories) were made from
PREVIOUS_COMMIT = "c3655e1"
#: what a worker imports: the entry point and the four packages (pyproject's packages.find)
PATHS = ("worker.py", "client", "activities", "pipeline", "workflows")


def git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout


def files_of(commit: str) -> list[tuple[str, str, str]]:
    """(mode, blob id, path) of every file under PATHS at `commit`, sorted by path."""
    rows = []
    for line in git("ls-tree", "-r", "-z", commit, "--", *PATHS).split(b"\0"):
        if not line:
            continue
        meta, path = line.split(b"\t", 1)
        mode, kind, blob = meta.decode().split()
        if kind != "blob":
            raise SystemExit(f"{path.decode()}: a {kind} in the snapshot's paths is not supported")
        rows.append((mode, blob, path.decode()))
    return sorted(rows, key=lambda r: r[2])


def build(commit: str) -> tuple[bytes, dict[str, str]]:
    when = int(git("show", "-s", "--format=%ct", commit).strip())
    members = files_of(commit)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for mode, blob, path in members:
            data = git("cat-file", "blob", blob)
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), when
            info.mode = 0o755 if mode == "100755" else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    return packed, {path: blob for _, blob, path in members}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default=PREVIOUS_COMMIT, help=f"the previous commit (default {PREVIOUS_COMMIT})")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare the checked-in snapshot with the commit")
    args = parser.parse_args(argv)
    sha = git("rev-parse", "--verify", f"{args.commit}^{{commit}}").decode().strip()
    packed, blobs = build(sha)
    name = f"worker-{sha[:12]}.tar.xz"
    if args.check:
        index = json.loads((args.out / "index.json").read_text())
        have = (args.out / index["archive"]).read_bytes()
        if index["commit"] != sha or index["files"] != blobs or have != packed:
            print(f"{args.out / index['archive']} is not the snapshot of {sha}: run scripts/snapshot_previous.py", file=sys.stderr)
            return 1
        print(f"{index['archive']}: the snapshot of {sha} ({len(blobs)} files)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("worker-*.tar.xz"):
        if old.name != name:
            old.unlink()
    (args.out / name).write_bytes(packed)
    index = {
        "commit": sha,
        "archive": name,
        "paths": list(PATHS),
        "made_by": "scripts/snapshot_previous.py",
        "files": blobs,
    }
    (args.out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out / name}: {len(blobs)} files of {sha}, {len(packed)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
