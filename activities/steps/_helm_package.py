"""Packaging a ``file://`` dependency as Helm does: ``.helmignore`` rules and a
reproducible archive."""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.steps._helm_lock import go_string
from activities.steps.base import step_failed
from pipeline.goregex import compile_go
from pipeline.goregex import escape as go_escape


def chart_meta(path: Path, where: str) -> dict[str, str]:
    chart = path / "Chart.yaml"
    if chart.is_symlink():  # committed content: never read through a link (it could lead out)
        raise step_failed(f"{where}: {path.name}/Chart.yaml is a symbolic link; it is not read")
    if not chart.is_file():
        raise step_failed(f"{where}: {path.name} is not a chart directory (no Chart.yaml)")
    try:
        from pipeline import yamlsafe

        doc = yamlsafe.load(chart.read_text())
    except Exception as e:  # noqa: BLE001
        raise step_failed(f"{where}: {path.name}/Chart.yaml is not valid YAML ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not doc.get("name") or doc.get("version") is None:
        raise step_failed(f"{where}: {path.name}/Chart.yaml has no name or version")
    return {"name": go_string(doc["name"]), "version": go_string(doc["version"])}


# --- packaging a file:// chart ------------------------------------------------------------


def _glob_regex(pattern: str) -> Any:
    """Go's ``filepath.Match`` pattern as a regular expression (``*`` and ``?`` stop at ``/``),
    compiled with RE2: a committed ``.helmignore`` cannot make matching backtrack."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(go_escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise ValueError(f"bad pattern {pattern!r}")
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end
        else:
            out.append(go_escape(c))
        i += 1
    return compile_go("".join(out))


@dataclass
class _Rule:
    regex: Any
    negate: bool
    must_dir: bool
    basename: bool


def helmignore_rules(text: str) -> list[_Rule]:
    """``.helmignore`` as Helm's ``pkg/ignore`` parses it, plus its default ``templates/.?*``."""
    rules = []
    for line in [*text.lstrip("\ufeff").splitlines(), "templates/.?*"]:
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        if "**" in rule:
            raise ValueError("double-star (**) syntax is not supported")
        negate = rule.startswith("!")
        rule = rule[1:] if negate else rule
        must_dir = rule.endswith("/")
        rule = rule.rstrip("/") if must_dir else rule
        basename = "/" not in rule
        rules.append(_Rule(_glob_regex(rule.lstrip("/")), negate, must_dir, basename))
    return rules


def ignored(rules: list[_Rule], path: str, is_dir: bool) -> bool:
    """Helm's ``Rules.Ignore`` (including its handling of negated rules)."""
    for r in rules:
        name = posixpath.basename(path) if r.basename else path
        if r.negate:
            if (r.must_dir and not is_dir) or not r.regex.fullmatch(name):
                return True
            continue
        if r.must_dir and not is_dir:
            continue
        if r.regex.fullmatch(name):
            return True
    return False


def package_chart(path: Path, name: str, root: Path, where: str) -> bytes:
    """A chart directory as a ``.tgz`` under ``<name>/``, made reproducibly (sorted entries,
    fixed times and modes) so that packaging the same files twice gives the same bytes."""
    ignore_file = path / ".helmignore"
    try:
        rules = helmignore_rules(ignore_file.read_text() if ignore_file.is_file() else "")
    except ValueError as e:
        raise step_failed(f"{where}: .helmignore: {e}") from None
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        rel_dir = os.path.relpath(dirpath, path).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        real = Path(dirpath).resolve()
        if real != root and root not in real.parents:
            raise step_failed(f"{where}: {rel_dir or '.'} leads outside the working directory")
        dirnames[:] = sorted(d for d in dirnames if not ignored(rules, posixpath.join(rel_dir, d), True))
        for f in filenames:
            rel = posixpath.join(rel_dir, f)
            if ignored(rules, rel, False):
                continue
            full = Path(dirpath) / f
            target = full.resolve()
            if target != root and root not in target.parents:
                raise step_failed(f"{where}: {rel} leads outside the working directory")
            if not target.is_file():
                raise step_failed(f"{where}: {rel} is not a regular file")
            files.append((rel, full))
    files.sort(key=lambda item: (item[0] != "Chart.yaml", item[0]))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, full in files:
            data = full.read_bytes()
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def archive_chart_name(path: Path) -> str | None:
    """The chart name of a chart archive in ``charts/``; None when the file is no chart."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                parts = member.name.lstrip("./").split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == "Chart.yaml":
                    f = tar.extractfile(member)
                    if f is None:
                        return None
                    from pipeline import yamlsafe

                    doc = yamlsafe.load(f.read(1024 * 1024))
                    return go_string(doc.get("name")) if isinstance(doc, dict) and doc.get("name") else None
    except Exception:  # noqa: BLE001 - anything unreadable is not a chart archive
        return None
    return None
