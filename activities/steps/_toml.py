"""Reading TOML files of the working directory with tomlkit, which keeps comments, order and
formatting when a document is written back (``toml-update``) and gives plain values
(``toml-parse``)."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.toml_document import TOMLDocument

from activities.steps import _safe_paths
from activities.steps.base import resolve_path, step_failed


def load(base: Path, path: str) -> tuple[Path, TOMLDocument]:
    """The file at config field ``path`` and its parsed document; a missing, empty or
    malformed file is a terminal failure naming the field."""
    target = resolve_path(base, path)
    if not target.is_file():
        raise step_failed(f"config field 'path': file {path!r} does not exist")
    text = _safe_paths.read_text(target, "path", path)
    if not text.strip():
        raise step_failed(f"config field 'path': {path!r} is empty")
    try:
        return target, tomlkit.parse(text)
    except TOMLKitError as e:
        raise step_failed(f"config field 'path': {path!r} is not valid TOML: {e}") from None
    except RecursionError:
        raise step_failed(f"config field 'path': {path!r} nests too deeply to be read") from None
