"""Helm's chart.Dependency, its Go JSON encoding, the lock digest (HashReq) and the
Chart.lock text exactly as Helm writes it."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from activities.steps.base import step_failed

# ---------------------------------------------------------------------------
# Helm's chart.Dependency, its JSON encoding and the lock digest
# ---------------------------------------------------------------------------


@dataclass
class Dependency:
    """The fields of Helm's ``chart.Dependency``, in its struct order."""

    name: str
    version: str = ""
    repository: str = ""
    condition: str = ""
    tags: list[str] = field(default_factory=list)
    enabled: bool = False
    import_values: list[Any] = field(default_factory=list)
    alias: str = ""

    def go_json(self) -> dict[str, Any]:
        """The object ``encoding/json`` makes of the struct: field order kept, the
        ``omitempty`` fields left out when empty (``name`` and ``repository`` never)."""
        out: dict[str, Any] = {"name": self.name}
        if self.version:
            out["version"] = self.version
        out["repository"] = self.repository
        if self.condition:
            out["condition"] = self.condition
        if self.tags:
            out["tags"] = list(self.tags)
        if self.enabled:
            out["enabled"] = True
        if self.import_values:
            out["import-values"] = self.import_values
        if self.alias:
            out["alias"] = self.alias
        return out


def go_json_dumps(value: Any) -> str:
    """``json.Marshal`` output: compact, UTF-8, with ``<``, ``>``, ``&``, U+2028 and
    U+2029 escaped as Go's encoder does. Map keys must already be in Go's order
    (struct order for structs, sorted for maps: see ``_plain``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def hash_req(req: Iterable[Dependency], lock: Iterable[Dependency]) -> str:
    """Helm's ``HashReq``: ``sha256:`` + hex sha256 of ``json.Marshal([2][]*Dependency{req, lock})``."""
    data = go_json_dumps([[d.go_json() for d in req], [d.go_json() for d in lock]])
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def _is_bool(value: Any) -> bool:
    from ruamel.yaml.scalarbool import ScalarBoolean

    return isinstance(value, (bool, ScalarBoolean))


def go_string(value: Any) -> str:
    """A Chart.yaml scalar as the string Helm reads into a ``string`` field
    (sigs.k8s.io/yaml turns YAML numbers and booleans into their text)."""
    if value is None:
        return ""
    if _is_bool(value):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        text = repr(float(value))
        return text.removesuffix(".0")
    return str(value)


def _plain(value: Any) -> Any:
    """YAML data as Go's ``any`` holds it after sigs.k8s.io/yaml: maps with sorted keys,
    whole numbers as integers."""
    if isinstance(value, dict):
        return {str(k): _plain(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None:
        return None
    if _is_bool(value):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def dependency_from_yaml(raw: Any, where: str) -> Dependency:
    """One entry of ``dependencies`` in Chart.yaml as Helm reads it."""
    if not isinstance(raw, dict):
        raise step_failed(f"{where} is not a mapping")
    name = go_string(raw.get("name")).strip()
    if not name:
        raise step_failed(f"{where} has no name")
    tags = raw.get("tags") or []
    imports = raw.get("import-values") or []
    if not isinstance(tags, list) or not isinstance(imports, list):
        raise step_failed(f"{where} ({name}): 'tags' and 'import-values' must be lists")
    enabled = raw.get("enabled")
    return Dependency(
        name=name,
        version=go_string(raw.get("version")).strip(),
        repository=go_string(raw.get("repository")).strip(),
        condition=go_string(raw.get("condition")).strip(),
        tags=[go_string(t).strip() for t in tags],
        enabled=(_is_bool(enabled) and bool(enabled)) or (isinstance(enabled, str) and enabled.lower() == "true"),
        import_values=_plain(imports),
        alias=go_string(raw.get("alias")),
    )


# ---------------------------------------------------------------------------
# Chart.lock as Helm writes it (sigs.k8s.io/yaml: JSON, then YAML with sorted keys)
# ---------------------------------------------------------------------------

_YAML11_WORDS = frozenset([
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
    "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
])
_GO_INT = re.compile(r"[-+]?(?:0[bB][01_]+|0[oO]?[0-7_]+|0[xX][0-9a-fA-F_]+|[0-9_]+)")
_GO_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9_]+)?|0[xX][0-9a-fA-F_.]+[pP][-+]?[0-9]+|\.(?:inf|Inf|INF|nan|NaN|NAN))"
)
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?")


def _needs_double_quotes(s: str) -> bool:
    """go-yaml quotes a string (double quotes) when, written plain, it would read back as
    another type: null, a boolean, a number or a timestamp."""
    if s == "" or s in _YAML11_WORDS:
        return True
    if s[0] in "+-.0123456789" and (_GO_INT.fullmatch(s) or _GO_FLOAT.fullmatch(s) or _BASE60.fullmatch(s)):
        return s not in ("+", "-", ".", "_")
    return bool(_TIMESTAMP.fullmatch(s))


def _plain_allowed(s: str) -> bool:
    """Whether the YAML emitter may write ``s`` plain (else it single-quotes it)."""
    if s[0] in " \t" or s[-1] in " \t:" or "\n" in s:
        return False
    if s[0] in "#,[]{}&*!|>'\"%@`":
        return False
    if s[0] in "-?:" and (len(s) == 1 or s[1] in " \t"):
        return False
    if s.startswith(("---", "...")):
        return False
    return ": " not in s and " #" not in s and not any(ord(c) < 0x20 for c in s)


def yaml_string(s: str) -> str:
    if _needs_double_quotes(s):
        return go_json_dumps(s)
    if _plain_allowed(s):
        return s
    if "\n" in s or any(ord(c) < 0x20 for c in s):
        return go_json_dumps(s)
    return "'" + s.replace("'", "''") + "'"


def format_lock(dependencies: list[Dependency], digest: str, generated: str) -> str:
    """The text of ``Chart.lock`` for locked dependencies (name, repository, version)."""
    lines = []
    if dependencies:
        lines.append("dependencies:")
        for d in dependencies:
            lines.append(f"- name: {yaml_string(d.name)}")
            lines.append(f"  repository: {yaml_string(d.repository)}")
            if d.version:
                lines.append(f"  version: {yaml_string(d.version)}")
    else:
        lines.append("dependencies: []")
    lines.append(f"digest: {yaml_string(digest)}")
    lines.append(f"generated: {go_json_dumps(generated)}")
    return "\n".join(lines) + "\n"


def rfc3339nano(ns: int | None = None) -> str:
    """The local time as Go's ``time.Time`` marshals it (``RFC3339Nano``): nanoseconds
    without trailing zeros, ``Z`` for a zero offset."""
    ns = time.time_ns() if ns is None else ns
    seconds, nanos = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(seconds).astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def read_lock_digest(path: Path) -> str | None:
    """The ``digest`` of an existing Chart.lock; None when there is none or it is unreadable."""
    if not path.is_file():
        return None
    try:
        from pipeline import yamlsafe

        doc = yamlsafe.load(path.read_text())
    except Exception:  # noqa: BLE001 - a broken lock is simply rewritten
        return None
    digest = doc.get("digest") if isinstance(doc, dict) else None
    return str(digest) if digest is not None else None
