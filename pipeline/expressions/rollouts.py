"""Argo Rollouts' two uses of templates and expressions in AnalysisTemplates.

- `{{ args.name }}` is plain text substitution (utils/template/template.go in
  argoproj/argo-rollouts, via fasttemplate): every `{{ ... }}` in the text must
  name a supplied argument, surrounding spaces are ignored, names may contain
  dashes (`{{ args.image-tag }}`).
- successCondition / failureCondition are expr-lang over `result`, with the
  helpers asInt, asFloat, isNaN, isInf, isNil and default (utils/evaluate/evaluate.go).
  Note that Argo's isNil(x) and default(x, d) look at `result`, not at x.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from pipeline.expressions.builtins import parse_go_float
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.operators import INT_MAX, INT_MIN, to_int
from pipeline.expressions.program import compile_expression
from pipeline.expressions.values import Function, is_number, type_name

OPEN, CLOSE = "{{", "}}"


def _substitute(text: str, values: Mapping[str, str | None]) -> str:
    out: list[str] = []
    offset = 0
    while True:
        start = text.find(OPEN, offset)
        if start < 0:
            out.append(text[offset:])
            return "".join(out)
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            raise ExpressionError(
                f"cannot find end tag {CLOSE!r} in the template", expression=text, position=start
            )
        out.append(text[offset:start])
        tag = text[start + len(OPEN) : end]
        key = tag.strip()
        if key not in values:
            raise ExpressionError(f"failed to resolve {{{{{tag}}}}}", expression=text, position=start)
        value = values[key]
        if value is None:
            raise ExpressionError(f'argument "{key[len("args."):]}" was not supplied', expression=text, position=start)
        out.append(value)
        offset = end + len(CLOSE)


def render_args(text: str, args: dict[str, str]) -> str:
    """Substitute `{{ args.name }}` in an AnalysisTemplate string; unknown tags are errors."""
    return _substitute(text, {f"args.{name}": value for name, value in args.items()})


def _go_escape(value: str) -> str:
    """strconv.Quote without the surrounding quotes, for JSON bodies."""
    from pipeline.expressions.goformat import go_quote

    return go_quote(value)[1:-1]


def render_args_quoted(text: str, args: dict[str, str]) -> str:
    """Like render_args but escapes values, for args substituted inside JSON (web metric bodies)."""
    return _substitute(
        text, {f"args.{name}": (None if value is None else _go_escape(value)) for name, value in args.items()}
    )


# -- conditions ---------------------------------------------------------------

def _as_int(*args: Any) -> int:
    if len(args) != 1:
        raise ExpressionError(f"asInt: expected 1 argument, got {len(args)}")
    value = args[0]
    if isinstance(value, str):
        body = value[1:] if value[:1] in "+-" else value
        if not (body.isascii() and body.isdigit()) or not INT_MIN <= int(value) <= INT_MAX:
            raise ExpressionError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
        return int(value)
    if is_number(value):
        return to_int(value)
    raise ExpressionError(f"asInt() not supported on {type_name(value)} {value!r}")


def _as_float(*args: Any) -> float:
    if len(args) != 1:
        raise ExpressionError(f"asFloat: expected 1 argument, got {len(args)}")
    value = args[0]
    if isinstance(value, str):
        parsed = parse_go_float(value)
        if parsed is None:
            raise ExpressionError(f'strconv.ParseFloat: parsing "{value}": invalid syntax')
        return parsed
    if is_number(value):
        return float(value)
    raise ExpressionError(f"asFloat() not supported on {type_name(value)} {value!r}")


def _float_arg(fn: str, args: tuple[Any, ...]) -> float:
    if len(args) != 1 or not is_number(args[0]):
        got = type_name(args[0]) if len(args) == 1 else f"{len(args)} arguments"
        raise ExpressionError(f"{fn}: expected one number, got {got}")
    return float(args[0])


def condition_env(result: Any) -> dict[str, Any]:
    """The environment of successCondition/failureCondition for one measurement."""
    nil = result is None
    return {
        "result": result,
        "asInt": Function(_as_int, "asInt"),
        "asFloat": Function(_as_float, "asFloat"),
        "isNaN": Function(lambda *a: math.isnan(_float_arg("isNaN", a)), "isNaN"),
        "isInf": Function(lambda *a: math.isinf(_float_arg("isInf", a)), "isInf"),
        # As in Argo Rollouts, both look at `result` whatever they are given.
        "isNil": Function(lambda *a: nil, "isNil"),
        "default": Function(lambda *a: a[-1] if nil else result, "default"),
    }


def evaluate_condition(condition: str, result: Any) -> bool:
    """Evaluate a metric condition; anything but a bool is an error, as in Argo Rollouts."""
    value = compile_expression(condition).evaluate(condition_env(result))
    if not isinstance(value, bool):
        raise ExpressionError(f"expected bool, but got {type_name(value)}", expression=condition)
    return value
