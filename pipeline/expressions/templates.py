"""`${{ }}` templates in manifest values, the way Kargo renders them.

Follows pkg/expressions/json_templates.go in akuity/kargo:

- Only strings containing `${{` or `${%` are touched; "42" stays the string "42".
- Each `${{ expr }}` (or `${% expr %}`, for expressions that contain `}}`) is
  evaluated; string results are spliced in as they are, anything else as JSON.
- The whole string is then read back like YAML would: a number, a bool or any
  JSON value becomes that value, so `${{ 40 + 2 }}` is 42 and `${{ vars.list }}`
  is a list. A result wrapped in double quotes (what quote() produces) has the
  quotes removed and stays a string.
- Dicts and lists are walked recursively; only values are rendered, never keys.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterator

from pipeline.expressions.builtins import parse_go_float
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.goformat import go_json
from pipeline.expressions.program import compile_expression

DELIMITERS = (("${{", "}}"), ("${%", "%}"))
_GO_BOOLS = {"t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def has_expression(text: str) -> bool:
    return any(start in text for start, _ in DELIMITERS)


def _next_expression(template: str, offset: int) -> tuple[int, int, int, int] | None:
    """(start of delimiter, start of expression, end of expression, end of delimiter) or None."""
    best: tuple[int, str, str] | None = None
    for start, end in DELIMITERS:
        index = template.find(start, offset)
        if index >= 0 and (best is None or index < best[0]):
            best = (index, start, end)
    if best is None:
        return None
    index, start, end = best
    expr_start = index + len(start)
    expr_end = template.find(end, expr_start)
    if expr_end < 0:
        raise ExpressionError(
            f"unclosed expression: expected {end!r} but reached the end of the template",
            expression=template[expr_start:],
            position=None,
        )
    return index, expr_start, expr_end, expr_end + len(end)


def expressions_in(template: str) -> Iterator[str]:
    """The expressions of a template, in order; an unclosed one raises ExpressionError."""
    offset = 0
    while True:
        found = _next_expression(template, offset)
        if found is None:
            return
        _, expr_start, expr_end, offset = found
        yield template[expr_start:expr_end]


def _spliced(value: Any) -> str:
    """A result as text: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return go_json(value)


def interpolate(template: str, env: dict[str, Any]) -> str:
    """Replace every expression in `template` by its text; no type coercion."""
    out: list[str] = []
    offset = 0
    while True:
        found = _next_expression(template, offset)
        if found is None:
            out.append(template[offset:])
            return "".join(out)
        start, expr_start, expr_end, end = found
        out.append(template[offset:start])
        expression = template[expr_start:expr_end]
        program = compile_expression(expression)
        out.append(_spliced(program.evaluate(env)))
        offset = end


def _coerce(result: str) -> Any:
    """Read an evaluated template back as Kargo does (number, bool, JSON, else string)."""
    removed_newline = result.endswith("\n")
    if removed_newline:
        result = result[:-1]
    if len(result) > 1 and result.startswith('"') and result.endswith('"'):
        result = result[1:-1]
        return result + "\n" if removed_newline else result
    number = parse_go_float(result)
    if number is not None and not (math.isnan(number) or math.isinf(number)):
        # Kargo hands configs on as JSON, where 42.0 is written 42: keep integers integers.
        if number.is_integer() and abs(number) < 1e21:
            return int(number)
        return number
    if result in _GO_BOOLS:
        return _GO_BOOLS[result]
    try:
        return json.loads(result, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        pass
    return result + "\n" if removed_newline else result


def _refuse_constant(text: str) -> Any:
    raise ValueError(text)


def render_template(template: str, env: dict[str, Any]) -> Any:
    """Kargo's EvaluateTemplate: one string value in, a typed value out."""
    if not has_expression(template):
        return template
    return _coerce(interpolate(template, env))


def _path_key(key: Any) -> str:
    if isinstance(key, str) and _IDENTIFIER.match(key):
        return f".{key}"
    return f"[{json.dumps(key) if isinstance(key, str) else key}]"


def _join_source(source: str | None, path: str) -> str | None:
    if not source:
        return path.lstrip(".") or None
    return source + path


def render(value: Any, env: dict[str, Any], *, source: str | None = None) -> Any:
    """Render every `${{ }}` in a value, walking dicts and lists; returns a new value.

    Errors carry `source` plus the path of the failing value, e.g.
    "stages.yaml: Stage/uat: ...config" + ".images[0].tag".
    """
    return _render(value, env, source, "")


def _render(value: Any, env: dict[str, Any], source: str | None, path: str) -> Any:
    if isinstance(value, str):
        if not has_expression(value):
            return value
        try:
            return render_template(value, env)
        except ExpressionError as err:
            raise err.with_context(source=_join_source(source, path))
    if isinstance(value, dict):
        return {key: _render(item, env, source, path + _path_key(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(item, env, source, f"{path}[{index}]") for index, item in enumerate(value)]
    return value
