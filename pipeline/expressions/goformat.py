"""Text forms of values exactly as Go prints them.

Kargo and expr-lang are Go programs, so what users see in rendered configs is
Go's output: `fmt.Sprintf("%v")` for string(), `strconv.Quote` for quote(),
`encoding/json` for maps and lists spliced into text. Python's defaults differ
(`1.0` vs `1`, `True` vs `true`, `1e-07` vs `1e-7`), so this module reproduces Go's.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.values import Function, Record


def _shortest_digits(value: float) -> tuple[str, int]:
    """(digits, decimal point position) of the shortest repr that round-trips."""
    sign, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # position of the decimal point relative to the digits
    if text == "0":
        point = 1
    return text, point


def _fixed(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * (-point) + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _exponent(digits: str, point: int, min_exp_digits: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1
    sign = "-" if exp < 0 else "+"
    return f"{mantissa}e{sign}{str(abs(exp)).zfill(min_exp_digits)}"


def format_float_v(value: float) -> str:
    """fmt's %v for a float64 (strconv 'g' with the shortest precision)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits, point = _shortest_digits(value)
    exp = point - 1
    if exp < -4 or exp >= 6:  # strconv 'g' with shortest precision switches at 1e6
        return sign + _exponent(digits, point, 2)
    return sign + _fixed(digits, point)


def format_float_json(value: float) -> str:
    """encoding/json's float64 form: fixed notation, exponent below 1e-6 and from 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise ExpressionError(f"json: unsupported value: {format_float_v(value)}")
    sign = "-" if value < 0 else ""
    if value == 0:
        return "0" if math.copysign(1.0, value) > 0 else "-0"
    digits, point = _shortest_digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = _exponent(digits, point, 2)
        # Go trims "e-07" to "e-7" (but keeps "e+21").
        if "e-0" in text:
            text = text.replace("e-0", "e-")
        return sign + text
    return sign + _fixed(digits, point)


def go_sprint(value: Any) -> str:
    """fmt.Sprintf("%v", value), which is what expr-lang's string() returns."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_v(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, Record):
        if value.text is not None:
            return value.text
        inner = "{" + " ".join(go_sprint(value.values.get(f[0])) for f in value.fields) + "}"
        return "&" + inner if value.pointer else inner
    if isinstance(value, Function):
        return f"<func {value.name}>"
    raise ExpressionError(f"cannot format a value of type {type(value).__name__}")


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """strconv.Quote / %q: a double-quoted Go string literal."""
    out = ['"']
    for ch in text:
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            # Go escapes control characters and, by default, HTML-sensitive ones.
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(value: Any, indent: str | None = None) -> str:
    """json.Marshal (indent=None) or json.MarshalIndent(value, "", indent)."""
    parts: list[str] = []
    _encode(value, parts, indent, 0, 0)
    return "".join(parts)


def _encode(value: Any, parts: list[str], indent: str | None, level: int, depth: int) -> None:
    if depth > 200:
        raise ExpressionError("json: value is nested too deeply")
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(format_float_json(value))
    elif isinstance(value, str):
        parts.append(_json_string(value))
    elif isinstance(value, Record):
        _encode(value.to_json_data(), parts, indent, level, depth + 1)
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            if indent is not None:
                parts.append("\n" + indent * (level + 1))
            _encode(item, parts, indent, level + 1, depth + 1)
        if indent is not None:
            parts.append("\n" + indent * level)
        parts.append("]")
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        parts.append("{")
        for i, key in enumerate(sorted(value, key=str)):
            if i:
                parts.append(",")
            if indent is not None:
                parts.append("\n" + indent * (level + 1))
            parts.append(_json_string(key if isinstance(key, str) else go_sprint(key)))
            parts.append(": " if indent is not None else ":")
            _encode(value[key], parts, indent, level + 1, depth + 1)
        if indent is not None:
            parts.append("\n" + indent * level)
        parts.append("}")
    elif isinstance(value, Function):
        raise ExpressionError(f"json: unsupported type: func ({value.name})")
    else:
        raise ExpressionError(f"json: unsupported type: {type(value).__name__}")
