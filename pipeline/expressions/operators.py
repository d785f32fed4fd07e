"""Operator semantics of expr-lang's runtime (vm/runtime in expr-lang/expr).

Go's rules, not Python's: ints are 64-bit and wrap, `/` always gives a float,
`%` truncates toward zero and needs ints, `**` gives a float, `1 == 1.0` is true
but `true == 1` is false, and a missing map key is nil.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.expressions import gotime
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.values import Record, is_number, type_name

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


def wrap_int(value: int) -> int:
    """Wrap to a signed 64-bit integer the way Go's int arithmetic overflows."""
    if INT_MIN <= value <= INT_MAX:
        return value
    return ((value - INT_MIN) % 2**64) + INT_MIN


def to_int(value: Any, what: str = "int") -> int:
    """runtime.ToInt: numbers only; floats truncate toward zero."""
    if isinstance(value, bool) or not is_number(value):
        raise ExpressionError(f"invalid operation: {what}({type_name(value)})")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return INT_MIN  # what Go's conversion yields on amd64
        return wrap_int(int(value))
    return value


def to_float(value: Any, what: str = "float") -> float:
    if isinstance(value, bool) or not is_number(value):
        raise ExpressionError(f"invalid operation: {what}({type_name(value)})")
    return float(value)


def equal(a: Any, b: Any) -> bool:
    """runtime.Equal."""
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, Record) and isinstance(b, Record):
        return a == b
    return False


def compare(op: str, a: Any, b: Any) -> bool:
    """<, >, <=, >= on two numbers, two strings, two times or two durations."""
    if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        return a >= b
    timed = gotime.time_compare(op, a, b)
    if timed is not None:
        return timed
    raise ExpressionError(f"invalid operation: {type_name(a)} {op} {type_name(b)}")


def _numbers(op: str, a: Any, b: Any) -> None:
    if not (is_number(a) and is_number(b)):
        raise ExpressionError(f"invalid operation: {type_name(a)} {op} {type_name(b)}")


def add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if gotime.is_time_value(a) or gotime.is_time_value(b):
        return gotime.time_add(a, b)
    _numbers("+", a, b)
    if isinstance(a, int) and isinstance(b, int):
        return wrap_int(a + b)
    return float(a) + float(b)


def subtract(a: Any, b: Any) -> Any:
    if gotime.is_time_value(a) or gotime.is_time_value(b):
        return gotime.time_subtract(a, b)
    _numbers("-", a, b)
    if isinstance(a, int) and isinstance(b, int):
        return wrap_int(a - b)
    return float(a) - float(b)


def multiply(a: Any, b: Any) -> Any:
    if gotime.is_time_value(a) or gotime.is_time_value(b):
        return gotime.time_multiply(a, b)
    _numbers("*", a, b)
    if isinstance(a, int) and isinstance(b, int):
        return wrap_int(a * b)
    return float(a) * float(b)


def divide(a: Any, b: Any) -> float:
    """Always float64 division; dividing by zero gives ±Inf or NaN as in Go."""
    _numbers("/", a, b)
    x, y = float(a), float(b)
    if y == 0.0:
        if x == 0.0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def modulo(a: Any, b: Any) -> int:
    """Integer remainder with Go's sign rule (the sign of the dividend)."""
    if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
        raise ExpressionError(f"invalid operation: {type_name(a)} % {type_name(b)}")
    if b == 0:
        raise ExpressionError("integer divide by zero")
    remainder = abs(a) % abs(b)
    return wrap_int(-remainder if a < 0 else remainder)


def power(a: Any, b: Any) -> float:
    """math.Pow: float result; domain errors give NaN, overflow gives Inf."""
    _numbers("**", a, b)
    x, y = float(a), float(b)
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0 and y.is_integer() and int(y) % 2 == 1:
            return -math.inf
        return math.inf
    except ValueError:
        if x == 0.0 and y < 0:
            if y.is_integer() and int(y) % 2 == 1:
                return math.copysign(math.inf, x)
            return math.inf
        return math.nan


def negate(value: Any) -> Any:
    if isinstance(value, bool) or not is_number(value):
        raise ExpressionError(f"invalid operation: - {type_name(value)}")
    return wrap_int(-value) if isinstance(value, int) else -value


def member_in(needle: Any, haystack: Any) -> bool:
    """The `in` operator: element of an array, key of a map, field of a record."""
    if haystack is None:
        return False
    if isinstance(haystack, (list, tuple)):
        return any(equal(item, needle) for item in haystack)
    if isinstance(haystack, dict):
        try:
            return needle in haystack
        except TypeError:
            return False
    if isinstance(haystack, Record):
        if not isinstance(needle, str):
            raise ExpressionError(f"cannot use {type_name(needle)} as field name of {haystack.type_name}")
        return haystack.has_field(needle)
    raise ExpressionError(f'operator "in" not defined on {type_name(haystack)}')


def _index(value: Any, length: int) -> int:
    index = to_int(value, "index")
    if index < 0:
        index += length
    if index < 0 or index >= length:
        raise ExpressionError(f"index out of range: {index} (array length is {length})")
    return index


def fetch(obj: Any, key: Any) -> Any:
    """obj[key] / obj.key: map lookups yield nil when missing, indexes must be in range."""
    if isinstance(obj, dict):
        try:
            return obj.get(key)
        except TypeError:
            raise ExpressionError(f"cannot use {type_name(key)} as a map key") from None
    if isinstance(obj, (list, tuple)):
        if isinstance(key, str):
            raise ExpressionError(f"cannot fetch {key} from array")
        return obj[_index(key, len(obj))]
    if isinstance(obj, str):
        if isinstance(key, str):
            raise ExpressionError(f"cannot fetch {key} from string")
        return obj[_index(key, len(obj))]
    if isinstance(obj, Record):
        if isinstance(key, str) and obj.has_field(key):
            return obj.get(key)
        raise ExpressionError(f"type {obj.type_name} has no field {key}")
    if obj is None:
        raise ExpressionError(f"cannot fetch {key} from nil")
    raise ExpressionError(f"cannot fetch {key} from {type_name(obj)}")


def slice_of(obj: Any, start: Any, stop: Any) -> Any:
    """runtime.Slice: negative bounds count from the end, out-of-range bounds are clamped."""
    if not isinstance(obj, (list, tuple, str)):
        raise ExpressionError(f"cannot slice {type_name(obj)}")
    length = len(obj)
    a = 0 if start is None else to_int(start, "index")
    b = length if stop is None else to_int(stop, "index")
    if a < 0:
        a = max(length + a, 0)
    if b < 0:
        b = max(length + b, 0)
    b = min(b, length)
    a = min(a, b)
    result = obj[a:b]
    return list(result) if isinstance(result, tuple) else result


def truthy_bool(value: Any, what: str) -> bool:
    """Logical operators and conditions need real booleans, as in expr-lang."""
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"{what} needs a bool, got {type_name(value)}")
