"""Round-trip YAML editing that keeps comments, quoting and the file's own indentation."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from activities.steps import _safe_paths
from activities.steps.base import step_failed
from pipeline import yamlsafe


def _indentation(text: str) -> tuple[int, int, int]:
    """Guess (mapping, sequence, offset) indents so a rewrite does not reindent the file."""
    mapping = 2
    m = re.search(r"^([A-Za-z0-9_\"'.-][^\n]*:)[ \t]*(?:#.*)?\n((?:[ \t]*#.*\n|[ \t]*\n)*)( +)[^\s#-]", text, re.M)
    if m:
        mapping = len(m.group(3))
    offset = 0
    m = re.search(r"^( *)[^\s#-][^\n]*:[ \t]*(?:#.*)?\n(?:[ \t]*#.*\n|[ \t]*\n)*( *)- ", text, re.M)
    if m:
        offset = max(0, len(m.group(2)) - len(m.group(1)))
    return mapping, offset + 2, offset


def make_yaml(text: str) -> YAML:
    y = yamlsafe.make_yaml("rt")  # round-trip, with alias and depth bounds on loading
    y.preserve_quotes = True
    y.width = 4096
    mapping, sequence, offset = _indentation(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    y.explicit_start = text.lstrip().startswith("---")
    return y


def load(path: Path, field: str = "path") -> tuple[YAML, list[Any], str]:
    """All documents of a YAML file, with the YAML instance that dumps them back alike.

    ``path`` is a place ``resolve_path`` returned; it is read only if it is a regular file
    (a symbolic link at it is not followed)."""
    text = _safe_paths.read_text(path, field)
    y = make_yaml(text)
    try:
        docs = yamlsafe.load_all_with(y, text)
    except YAMLError as e:
        raise step_failed(f"config field {field!r}: {path.name} is not valid YAML: {e}") from None
    return y, docs, text


def dump(path: Path, y: YAML, docs: list[Any], original: str) -> None:
    buf = io.StringIO()
    if len(docs) == 1:
        y.dump(docs[0], buf)
    else:
        y.dump_all(docs, buf)
    out = buf.getvalue()
    if not original.endswith("\n") and out.endswith("\n"):
        out = out.rstrip("\n")
    if out != original:
        # a new file renamed over the old one (its mode kept): never written through a link
        _safe_paths.write_file(None, path, out, field="path")


_YAML11_WORDS = {"null", "~", "yes", "no", "on", "off", "y", "n"}


def quote_if_necessary(value: Any) -> str:
    """A value as a commit message shows it: a string that YAML would read as another type
    is double-quoted, as Kargo's messages do."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if not isinstance(value, str):
        return str(value)
    if value == "" or value.lower() in _YAML11_WORDS:
        return json.dumps(value)
    try:
        float(value)
        return json.dumps(value)
    except ValueError:
        pass
    if value in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
        return json.dumps(value)
    try:
        json.loads(value)
        return json.dumps(value)
    except ValueError:
        return value


def typed(value: Any) -> Any:
    """A string that would read back as a number, bool or null is written double-quoted
    (as kustomize and Kargo write it), so it stays a string."""
    if isinstance(value, str) and not isinstance(value, ScalarString) and quote_if_necessary(value) != value:
        return DoubleQuotedScalarString(value)
    return value
