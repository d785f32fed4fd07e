"""A small YAML writer for asYAML(), close to what Go's yaml.v3 Marshal prints.

Block style, keys sorted, four-space indentation (yaml.v3's default), strings
quoted only when a plain scalar would read back as something else.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.goformat import format_float_v, go_quote
from pipeline.expressions.values import Record

INDENT = "    "
_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9 _./@()+-]*$")
_SPECIAL = re.compile(
    r"^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$"
)
_NUMBER_LIKE = re.compile(r"^[-+]?(\.?[0-9]|0x|0o|\.inf|\.nan)", re.IGNORECASE)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = format_float_v(value)
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(text, text)
    if isinstance(value, str):
        if value and _PLAIN.match(value) and not _SPECIAL.match(value) and not _NUMBER_LIKE.match(value) \
                and not value.endswith(" "):
            return value
        return go_quote(value)
    raise ExpressionError(f"asYAML: unsupported value of type {type(value).__name__}")


def _emit(value: Any, level: int, lines: list[str], depth: int) -> None:
    if depth > 100:
        raise ExpressionError("asYAML: value is nested too deeply")
    pad = INDENT * level
    if isinstance(value, Record):
        value = value.to_json_data()
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            item = value[key]
            if isinstance(item, Record):
                item = item.to_json_data()
            label = _scalar(key if isinstance(key, str) else str(key))
            if isinstance(item, (dict, list, tuple)) and item:
                lines.append(f"{pad}{label}:")
                _emit(item, level + 1, lines, depth + 1)
            elif isinstance(item, str) and "\n" in item:
                lines.append(f"{pad}{label}: " + _block(item, level + 1))
            else:
                lines.append(f"{pad}{label}: {_inline(item)}")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Record):
                item = item.to_json_data()
            if isinstance(item, (dict, list, tuple)) and item:
                sub: list[str] = []
                _emit(item, 0, sub, depth + 1)
                lines.append(f"{pad}- {sub[0]}")
                lines.extend(f"{pad}  {line}" for line in sub[1:])
            else:
                lines.append(f"{pad}- {_inline(item)}")
        return
    lines.append(pad + _inline(value))


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    if isinstance(value, str) and "\n" in value:
        return go_quote(value)
    return _scalar(value)


def _block(text: str, level: int) -> str:
    chomp = "" if text.endswith("\n") else "-"
    body = text[:-1] if text.endswith("\n") else text
    pad = INDENT * level
    return f"|{chomp}\n" + "\n".join(pad + line if line else "" for line in body.split("\n"))


def to_yaml(value: Any) -> str:
    lines: list[str] = []
    _emit(value, 0, lines, 0)
    return "\n".join(lines) + "\n"
