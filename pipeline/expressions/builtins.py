"""expr-lang's builtin functions (builtin/builtin.go in expr-lang/expr). The time
ones (now, date, duration) are in gotime.py and come with the environment, since
now() must return the time the caller gives (workflow time), never the clock's.

Each builtin takes (ctx, name, args) and follows Go's behaviour: for instance
len() counts characters, string() prints like fmt's %v, toJSON() indents by two
spaces and sorts keys like json.MarshalIndent.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Callable

from pipeline.expressions import goformat, operators as ops
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.evaluator import Context
from pipeline.expressions.values import is_number, type_name

MAX_REPEAT_CHARS = 1_000_000


def _arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ExpressionError(f"invalid number of arguments for {name} (expected {expected}, got {len(args)})")


def _str(name: str, value: Any, position: str = "argument") -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"invalid {position} for {name} (expected string, got {type_name(value)})")
    return value


def _array(name: str, value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise ExpressionError(f"invalid argument for {name} (expected array, got {type_name(value)})")
    return list(value)


def _map(name: str, value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ExpressionError(f"invalid argument for {name} (expected map, got {type_name(value)})")
    return value


def _number(name: str, value: Any) -> int | float:
    if not is_number(value):
        raise ExpressionError(f"invalid argument for {name} (type {type_name(value)})")
    return value


# -- general ----------------------------------------------------------------

def b_len(ctx: Context, name: str, args: list[Any]) -> int:
    _arity(name, args, 1)
    value = args[0]
    if isinstance(value, (str, list, tuple, dict)):
        return len(value)
    raise ExpressionError(f"invalid argument for len (type {type_name(value)})")


def b_type(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    return type_name(args[0])


def b_get(ctx: Context, name: str, args: list[Any]) -> Any:
    """Like obj[key] but nil instead of an error when the index or field is missing."""
    _arity(name, args, 2)
    try:
        return ops.fetch(args[0], args[1])
    except ExpressionError:
        return None


# -- numbers ----------------------------------------------------------------

def b_abs(ctx: Context, name: str, args: list[Any]) -> Any:
    _arity(name, args, 1)
    value = _number(name, args[0])
    return ops.wrap_int(abs(value)) if isinstance(value, int) else abs(value)


def _rounding(fn: Callable[[float], float]) -> Callable[[Context, str, list[Any]], float]:
    def impl(ctx: Context, name: str, args: list[Any]) -> float:
        _arity(name, args, 1)
        value = float(_number(name, args[0]))
        if math.isnan(value) or math.isinf(value):
            return value
        return float(fn(value))

    return impl


def _round_half_away(value: float) -> float:
    return math.copysign(math.floor(abs(value) + 0.5), value)


def b_int(ctx: Context, name: str, args: list[Any]) -> int:
    _arity(name, args, 1)
    value = args[0]
    if isinstance(value, str):
        text = value
        if not _is_go_int(text):
            raise ExpressionError(f"invalid operation: int({value})")
        parsed = int(text, 10)
        if not ops.INT_MIN <= parsed <= ops.INT_MAX:
            raise ExpressionError(f"invalid operation: int({value})")
        return parsed
    return ops.to_int(value)


def _is_go_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isascii() and body.isdigit()


_GO_FLOAT_CHARS = set("0123456789+-.eE")


def parse_go_float(text: str) -> float | None:
    """strconv.ParseFloat for decimal input; None when Go would refuse it."""
    lowered = text.lower()
    if lowered in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"):
        return float(lowered.replace("infinity", "inf"))
    if not text or not set(text) <= _GO_FLOAT_CHARS:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if math.isinf(value):
        return None  # out of range: Go reports an error
    return value


def b_float(ctx: Context, name: str, args: list[Any]) -> float:
    _arity(name, args, 1)
    value = args[0]
    if isinstance(value, str):
        parsed = parse_go_float(value)
        if parsed is None:
            raise ExpressionError(f"invalid operation: float({value})")
        return parsed
    return ops.to_float(value)


def _flatten_numbers(name: str, values: list[Any], out: list[Any], depth: int = 0) -> None:
    if depth > 50:
        raise ExpressionError(f"{name}: arrays nested too deeply")
    for value in values:
        if isinstance(value, (list, tuple)):
            _flatten_numbers(name, list(value), out, depth + 1)
        elif is_number(value):
            out.append(value)
        else:
            raise ExpressionError(f"invalid argument for {name} (type {type_name(value)})")


def _min_max(pick_max: bool) -> Callable[[Context, str, list[Any]], Any]:
    def impl(ctx: Context, name: str, args: list[Any]) -> Any:
        if not args:
            raise ExpressionError(f"not enough arguments to call {name}")
        if len(args) == 1 and not isinstance(args[0], (list, tuple)) and not is_number(args[0]):
            return args[0]
        numbers: list[Any] = []
        _flatten_numbers(name, args, numbers)
        best = None
        for value in numbers:
            if best is None or (value > best if pick_max else value < best):
                best = value
        return best

    return impl


def b_mean(ctx: Context, name: str, args: list[Any]) -> float:
    numbers: list[Any] = []
    _flatten_numbers(name, args, numbers)
    return float(sum(numbers)) / len(numbers) if numbers else 0.0


def b_median(ctx: Context, name: str, args: list[Any]) -> float:
    numbers: list[Any] = []
    _flatten_numbers(name, args, numbers)
    if not numbers:
        return 0.0
    values = sorted(float(v) for v in numbers)
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def _bitwise(fn: Callable[[int, int], int], arity: int = 2) -> Callable[[Context, str, list[Any]], int]:
    def impl(ctx: Context, name: str, args: list[Any]) -> int:
        _arity(name, args, arity)
        ints = []
        for value in args:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ExpressionError(f"invalid argument for {name} (expected int, got {type_name(value)})")
            ints.append(value)
        return ops.wrap_int(fn(*ints))

    return impl


def _shift_count(value: int) -> int:
    if value < 0:
        raise ExpressionError("invalid shift count: negative")
    return min(value, 64)


# -- strings ----------------------------------------------------------------

def b_string(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    return ctx.spend_chars(goformat.go_sprint(args[0]))


def b_trim(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1, 2)
    text = _str(name, args[0])
    if len(args) == 1:
        return text.strip()
    return text.strip(_str(name, args[1]))


def b_trim_prefix(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1, 2)
    text = _str(name, args[0])
    prefix = _str(name, args[1]) if len(args) == 2 else " "
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def b_trim_suffix(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1, 2)
    text = _str(name, args[0])
    suffix = _str(name, args[1]) if len(args) == 2 else " "
    return text[: -len(suffix)] if suffix and text.endswith(suffix) else text


def b_upper(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    return _str(name, args[0]).upper()


def b_lower(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    return _str(name, args[0]).lower()


def _go_split(text: str, sep: str, limit: int, after: bool) -> list[str]:
    """strings.SplitN / SplitAfterN: n == 0 gives [], n < 0 means no limit."""
    if limit == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < limit < len(chars):
            chars = chars[: limit - 1] + ["".join(chars[limit - 1:])]
        return chars
    parts = text.split(sep) if limit < 0 else text.split(sep, limit - 1)
    if after:
        parts = [part + sep for part in parts[:-1]] + parts[-1:]
    return parts


def _splitter(after: bool) -> Callable[[Context, str, list[Any]], list[str]]:
    def impl(ctx: Context, name: str, args: list[Any]) -> list[str]:
        _arity(name, args, 2, 3)
        text, sep = _str(name, args[0]), _str(name, args[1])
        limit = ops.to_int(args[2]) if len(args) == 3 else -1
        parts = _go_split(text, sep, limit, after)
        ctx.spend(len(parts))
        return parts

    return impl


def b_replace(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 3, 4)
    text, old, new = _str(name, args[0]), _str(name, args[1]), _str(name, args[2])
    count = ops.to_int(args[3]) if len(args) == 4 else -1
    if old == "" and (len(text) + 1) * len(new) > MAX_REPEAT_CHARS:
        raise ExpressionError("replace() result is too large")
    if old and new and text.count(old) * len(new) > MAX_REPEAT_CHARS * 10:
        raise ExpressionError("replace() result is too large")
    return ctx.spend_chars(text.replace(old, new, count if count >= 0 else -1))


def b_repeat(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 2)
    text = _str(name, args[0])
    times = ops.to_int(args[1])
    if times < 0:
        raise ExpressionError(f"invalid argument for repeat (expected positive integer, got {times})")
    if times > 1_000_000 or len(text) * times > MAX_REPEAT_CHARS:
        raise ExpressionError(f"repeat() result is too large (limit {MAX_REPEAT_CHARS} characters)")
    return ctx.spend_chars(text * times)


def b_join(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1, 2)
    items = _array(name, args[0])
    glue = _str(name, args[1]) if len(args) == 2 else ""
    for item in items:
        if not isinstance(item, str):
            raise ExpressionError(f"join() needs an array of strings, found {type_name(item)}")
    return ctx.spend_chars(glue.join(items))


def b_index_of(ctx: Context, name: str, args: list[Any]) -> int:
    _arity(name, args, 2)
    return _str(name, args[0]).find(_str(name, args[1]))


def b_last_index_of(ctx: Context, name: str, args: list[Any]) -> int:
    _arity(name, args, 2)
    return _str(name, args[0]).rfind(_str(name, args[1]))


def b_has_prefix(ctx: Context, name: str, args: list[Any]) -> bool:
    _arity(name, args, 2)
    return _str(name, args[0]).startswith(_str(name, args[1]))


def b_has_suffix(ctx: Context, name: str, args: list[Any]) -> bool:
    _arity(name, args, 2)
    return _str(name, args[0]).endswith(_str(name, args[1]))


# -- conversion ---------------------------------------------------------------

def b_to_json(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    return ctx.spend_chars(goformat.go_json(args[0], indent="  "))


def _no_constants(text: str) -> Any:
    raise ValueError(f"invalid JSON value {text}")


def b_from_json(ctx: Context, name: str, args: list[Any]) -> Any:
    _arity(name, args, 1)
    text = _str(name, args[0])
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ExpressionError(f"fromJSON(): {exc}") from None


def b_to_base64(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    return ctx.spend_chars(base64.b64encode(_str(name, args[0]).encode()).decode())


def b_from_base64(ctx: Context, name: str, args: list[Any]) -> str:
    _arity(name, args, 1)
    try:
        raw = base64.b64decode(_str(name, args[0]), validate=True)
        return raw.decode("utf-8", errors="replace")
    except (binascii.Error, ValueError) as exc:
        raise ExpressionError(f"fromBase64(): {exc}") from None


# -- arrays and maps ------------------------------------------------------------

def b_first(ctx: Context, name: str, args: list[Any]) -> Any:
    _arity(name, args, 1)
    value = args[0]
    return value[0] if isinstance(value, (list, tuple, str)) and len(value) else None


def b_last(ctx: Context, name: str, args: list[Any]) -> Any:
    _arity(name, args, 1)
    value = args[0]
    return value[-1] if isinstance(value, (list, tuple, str)) and len(value) else None


def b_take(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 2)
    items = _array(name, args[0])
    count = args[1]
    if not isinstance(count, int) or isinstance(count, bool):
        raise ExpressionError(f"cannot take {type_name(count)} elements")
    return items[: max(count, 0)]


def b_keys(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 1)
    return list(_map(name, args[0]).keys())


def b_values(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 1)
    return list(_map(name, args[0]).values())


def b_to_pairs(ctx: Context, name: str, args: list[Any]) -> list[list[Any]]:
    _arity(name, args, 1)
    return [[k, v] for k, v in _map(name, args[0]).items()]


def b_from_pairs(ctx: Context, name: str, args: list[Any]) -> dict[Any, Any]:
    _arity(name, args, 1)
    out: dict[Any, Any] = {}
    for pair in _array(name, args[0]):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ExpressionError(f"invalid pair {goformat.go_sprint(pair)}")
        try:
            out[pair[0]] = pair[1]
        except TypeError:
            raise ExpressionError(f"invalid map key of type {type_name(pair[0])}") from None
    return out


def b_reverse(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 1)
    return list(reversed(_array(name, args[0])))


def b_uniq(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 1)
    items = _array(name, args[0])
    ctx.spend(len(items) * len(items) // 16 + 1)
    out: list[Any] = []
    for item in items:
        if not any(ops.equal(item, seen) for seen in out):
            out.append(item)
    return out


def b_concat(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    if not args:
        raise ExpressionError("invalid number of arguments for concat (expected at least 1, got 0)")
    out: list[Any] = []
    for value in args:
        out.extend(_array(name, value))
    ctx.spend(len(out))
    return out


def b_flatten(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 1)
    out: list[Any] = []

    def walk(items: list[Any], depth: int) -> None:
        if depth > 100:
            raise ExpressionError("flatten(): arrays nested too deeply")
        for item in items:
            if isinstance(item, (list, tuple)):
                walk(list(item), depth + 1)
            else:
                out.append(item)

    walk(_array(name, args[0]), 0)
    ctx.spend(len(out))
    return out


def b_sort(ctx: Context, name: str, args: list[Any]) -> list[Any]:
    _arity(name, args, 1, 2)
    items = _array(name, args[0])
    order = args[1] if len(args) == 2 else "asc"
    if order not in ("asc", "desc"):
        raise ExpressionError(f'unknown sort order {order!r}; use "asc" or "desc"')
    if all(is_number(v) for v in items) or all(isinstance(v, str) for v in items):
        return sorted(items, reverse=order == "desc")
    raise ExpressionError("sort() needs an array of numbers or of strings")


BUILTINS: dict[str, Callable[[Context, str, list[Any]], Any]] = {
    "len": b_len,
    "type": b_type,
    "get": b_get,
    "abs": b_abs,
    "ceil": _rounding(math.ceil),
    "floor": _rounding(math.floor),
    "round": _rounding(_round_half_away),
    "int": b_int,
    "float": b_float,
    "string": b_string,
    "max": _min_max(True),
    "min": _min_max(False),
    "mean": b_mean,
    "median": b_median,
    "trim": b_trim,
    "trimPrefix": b_trim_prefix,
    "trimSuffix": b_trim_suffix,
    "upper": b_upper,
    "lower": b_lower,
    "split": _splitter(False),
    "splitAfter": _splitter(True),
    "replace": b_replace,
    "repeat": b_repeat,
    "join": b_join,
    "indexOf": b_index_of,
    "lastIndexOf": b_last_index_of,
    "hasPrefix": b_has_prefix,
    "hasSuffix": b_has_suffix,
    "toJSON": b_to_json,
    "fromJSON": b_from_json,
    "toBase64": b_to_base64,
    "fromBase64": b_from_base64,
    "first": b_first,
    "last": b_last,
    "take": b_take,
    "keys": b_keys,
    "values": b_values,
    "toPairs": b_to_pairs,
    "fromPairs": b_from_pairs,
    "reverse": b_reverse,
    "uniq": b_uniq,
    "concat": b_concat,
    "flatten": b_flatten,
    "sort": b_sort,
    "bitand": _bitwise(lambda a, b: a & b),
    "bitor": _bitwise(lambda a, b: a | b),
    "bitxor": _bitwise(lambda a, b: a ^ b),
    "bitnand": _bitwise(lambda a, b: a & ~b),
    "bitnot": _bitwise(lambda a: ~a, arity=1),
    "bitshl": _bitwise(lambda a, b: a << _shift_count(b)),
    "bitshr": _bitwise(lambda a, b: a >> _shift_count(b)),
    "bitushr": _bitwise(lambda a, b: (a % 2**64) >> _shift_count(b)),
}

