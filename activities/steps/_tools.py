"""Running external tools (kustomize, kubectl, helm) from steps, and splitting the
multi-document YAML they print into one file per resource."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from activities.steps import _safe_paths
from activities.steps.base import step_failed
from activities.trust import tool_env
from pipeline import yamlsafe

TOOL_TIMEOUT = float(os.environ.get("GANTRY_TOOL_TIMEOUT", "300"))


def run_tool(cmd: list[str], *, cwd: Path, what: str, env: dict[str, str] | None = None) -> str:
    """Run ``cmd``; its stdout, or a step failure with the tool's own error output.

    The tool sees only the allow-listed environment (``activities.trust``) plus ``env``:
    never the worker's credentials."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=tool_env(env),
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise step_failed(f"{what}: `{' '.join(cmd[:2])}` did not finish within {TOOL_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        raise step_failed(f"{what}: `{' '.join(cmd[:2])}` failed (exit status {proc.returncode}): {err}")
    return proc.stdout


def split_documents(text: str) -> list[str]:
    """The non-empty documents of a multi-document YAML stream, each ending in a newline."""
    docs = re.split(r"^---[ \t]*(?:#.*)?$\n?", text, flags=re.M)
    out = []
    for d in docs:
        body = "\n".join(line for line in d.splitlines())
        if body.strip() and any(line.strip() and not line.lstrip().startswith("#") for line in body.splitlines()):
            out.append(body.strip("\n") + "\n")
    return out


def resource_meta(doc: str) -> dict[str, str]:
    """apiVersion, kind, namespace and name of one rendered resource ("" where absent)."""
    try:
        data: Any = yamlsafe.load(doc)
    except YAMLError:
        data = None
    if not isinstance(data, dict):
        data = {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return {
        "apiVersion": str(data.get("apiVersion") or ""),
        "kind": str(data.get("kind") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
    }


def safe_filename(name: str, field: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or _safe_paths.is_git(name):
        raise step_failed(f"config field {field!r}: a rendered resource would get the unsafe file name {name!r}")
    return name


def is_file_target(out_path: str, target: Path) -> bool:
    """Kargo's rule: an outPath ending in .yaml or .yml is one file, anything else a directory
    (so is a path ending in / or an existing directory)."""
    if out_path.endswith("/") or target.is_dir():
        return False
    return target.suffix in (".yaml", ".yml")


def write_if_changed(base: Path, path: Path, text: str, field: str = "outPath") -> None:
    """Write ``text`` to ``path`` (a place ``resolve_path`` returned, or a safe name below
    one) unless the regular file there already holds it. The file is a new one renamed
    into place and its directories are made one at a time without following links, so a
    committed link named like an output is replaced, never written through."""
    if _safe_paths.read_existing(path) != text.encode():
        _safe_paths.write_file(base, path, text, field=field)
