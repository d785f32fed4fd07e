"""Tree-walking evaluator for parsed expressions.

It only ever: reads dict keys, list items and Record fields; applies the
operators in operators.py; calls its own builtins and `Function` instances.
There is no getattr, no eval, and no path from input text to Python objects,
so an expression cannot reach Python builtins, dunder attributes or the
filesystem whatever it contains.
"""

from __future__ import annotations

from typing import Any, Callable

from pipeline.expressions import ast, operators as ops
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.regex import matches
from pipeline.expressions.values import Function, Record, type_name

MAX_STEPS = 200_000  # predicate iterations and produced items per evaluation
MAX_CHARS = 10_000_000  # characters of strings built per evaluation
MAX_RANGE = 100_000


class _NilChain(Exception):
    """Raised by `?.` on nil, caught by the enclosing Chain node, which yields nil."""


class Context:
    """State of one evaluation: the environment, `let` variables, `#` frames and budgets."""

    __slots__ = ("env", "variables", "frames", "steps", "chars")

    def __init__(self, env: dict[str, Any]):
        self.env = env
        self.variables: dict[str, Any] = {}
        self.frames: list[dict[str, Any]] = []
        self.steps = 0
        self.chars = 0

    def spend(self, steps: int) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"expression does too much work (limit {MAX_STEPS} steps)")

    def spend_chars(self, text: str) -> str:
        self.chars += len(text)
        if self.chars > MAX_CHARS:
            raise ExpressionError(f"expression builds too much text (limit {MAX_CHARS} characters)")
        return text


def evaluate_node(node: ast.Node, ctx: Context) -> Any:
    try:
        return _DISPATCH[type(node)](node, ctx)
    except ExpressionError as err:
        raise err.with_context(position=node.pos)


def _literal(node: ast.Literal, ctx: Context) -> Any:
    return node.value


def _identifier(node: ast.Identifier, ctx: Context) -> Any:
    name = node.name
    if name in ctx.variables:
        return ctx.variables[name]
    env = ctx.env
    if name in env:
        return env[name]
    if name == "$env":
        return env
    raise ExpressionError(f"unknown name {name}")


def _pointer(node: ast.Pointer, ctx: Context) -> Any:
    if not ctx.frames:
        raise ExpressionError("`#` used outside a predicate")
    frame = ctx.frames[-1]
    key = node.name or "#"
    if key not in frame:
        raise ExpressionError(f"unknown pointer #{node.name}")
    return frame[key]


def _array(node: ast.ArrayLit, ctx: Context) -> Any:
    return [evaluate_node(item, ctx) for item in node.items]


def _map(node: ast.MapLit, ctx: Context) -> Any:
    out: dict[str, Any] = {}
    for key_node, value_node in node.pairs:
        key = evaluate_node(key_node, ctx)
        if not isinstance(key, str):
            raise ExpressionError(f"map keys must be strings, got {type_name(key)}")
        out[key] = evaluate_node(value_node, ctx)
    return out


def _member(node: ast.Member, ctx: Context) -> Any:
    obj = evaluate_node(node.obj, ctx)
    if obj is None and node.optional:
        raise _NilChain()
    key = evaluate_node(node.key, ctx)
    return ops.fetch(obj, key)


def _slice(node: ast.Slice, ctx: Context) -> Any:
    obj = evaluate_node(node.obj, ctx)
    start = None if node.start is None else evaluate_node(node.start, ctx)
    stop = None if node.stop is None else evaluate_node(node.stop, ctx)
    return ops.slice_of(obj, start, stop)


def _chain(node: ast.Chain, ctx: Context) -> Any:
    try:
        return evaluate_node(node.inner, ctx)
    except _NilChain:
        return None


def _unary(node: ast.Unary, ctx: Context) -> Any:
    value = evaluate_node(node.operand, ctx)
    if node.op == "not":
        return not ops.truthy_bool(value, "`not`")
    if node.op == "-":
        return ops.negate(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"invalid operation: + {type_name(value)}")
    return value


def _string_op(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    if not (isinstance(left, str) and isinstance(right, str)):
        raise ExpressionError(f"invalid operation: {type_name(left)} {op} {type_name(right)}")
    if op == "contains":
        return right in left
    if op == "startsWith":
        return left.startswith(right)
    if op == "endsWith":
        return left.endswith(right)
    return matches(left, right)


def _range(left: Any, right: Any, ctx: Context) -> list[int]:
    low = ops.to_int(left, "range")
    high = ops.to_int(right, "range")
    size = high - low + 1
    if size <= 0:
        return []
    if size > MAX_RANGE:
        raise ExpressionError(f"range {low}..{high} is too large (limit {MAX_RANGE} items)")
    ctx.spend(size)
    return list(range(low, high + 1))


def _binary(node: ast.Binary, ctx: Context) -> Any:
    op = node.op
    if op == "and":
        if not ops.truthy_bool(evaluate_node(node.left, ctx), "`and`"):
            return False
        return ops.truthy_bool(evaluate_node(node.right, ctx), "`and`")
    if op == "or":
        if ops.truthy_bool(evaluate_node(node.left, ctx), "`or`"):
            return True
        return ops.truthy_bool(evaluate_node(node.right, ctx), "`or`")
    if op == "??":
        left = evaluate_node(node.left, ctx)
        return evaluate_node(node.right, ctx) if left is None else left
    left = evaluate_node(node.left, ctx)
    right = evaluate_node(node.right, ctx)
    try:
        fn = _BINARY[op]
    except KeyError:
        raise ExpressionError(f"unknown operator {op}") from None
    result = fn(left, right)
    if isinstance(result, str) and op == "+":
        ctx.spend_chars(result)
    elif op == "..":
        return _range(left, right, ctx)
    return result


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": ops.equal,
    "!=": lambda a, b: not ops.equal(a, b),
    "<": lambda a, b: ops.compare("<", a, b),
    ">": lambda a, b: ops.compare(">", a, b),
    "<=": lambda a, b: ops.compare("<=", a, b),
    ">=": lambda a, b: ops.compare(">=", a, b),
    "in": ops.member_in,
    "contains": lambda a, b: _string_op("contains", a, b),
    "startsWith": lambda a, b: _string_op("startsWith", a, b),
    "endsWith": lambda a, b: _string_op("endsWith", a, b),
    "matches": lambda a, b: _string_op("matches", a, b),
    "+": ops.add,
    "-": ops.subtract,
    "*": ops.multiply,
    "/": ops.divide,
    "%": ops.modulo,
    "**": ops.power,
    "..": lambda a, b: None,  # built in _binary, which needs the budget
}


def _conditional(node: ast.Conditional, ctx: Context) -> Any:
    cond = ops.truthy_bool(evaluate_node(node.cond, ctx), "a condition")
    return evaluate_node(node.then if cond else node.otherwise, ctx)


def call_function(fn: Function, args: list[Any], name: str) -> Any:
    """Call a host Function; its failures become ExpressionErrors."""
    try:
        return fn.fn(*args)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError(f"{name}(): too deeply nested") from None
    except Exception as exc:  # a host function's own failure, reported as the expression's
        raise ExpressionError(f"{name}(): {exc}") from None


def _call(node: ast.Call, ctx: Context) -> Any:
    name = node.name
    if name in _predicates.PREDICATE_BUILTINS:
        return _predicates.PREDICATE_BUILTINS[name](node, ctx)
    target = ctx.variables.get(name, ctx.env.get(name))
    if target is not None:
        if not isinstance(target, Function):
            raise ExpressionError(f"{name} is not a function (it is a {type_name(target)})")
        args = [evaluate_node(arg, ctx) for arg in node.args]
        return call_function(target, args, name)
    builtin = _builtins.BUILTINS.get(name)
    if builtin is None:
        raise ExpressionError(f"unknown function {name}()")
    args = [evaluate_node(arg, ctx) for arg in node.args]
    return builtin(ctx, name, args)


def _method_call(node: ast.MethodCall, ctx: Context) -> Any:
    obj = evaluate_node(node.obj, ctx)
    if obj is None and node.optional:
        raise _NilChain()
    args = [evaluate_node(arg, ctx) for arg in node.args]
    if isinstance(obj, Record):
        method = obj.methods.get(node.name)
        if method is None:
            raise ExpressionError(f"type {obj.type_name} has no method {node.name}")
        return call_function(method, [obj, *args], node.name)
    if isinstance(obj, dict):
        target = obj.get(node.name)
        if isinstance(target, Function):
            return call_function(target, args, node.name)
    raise ExpressionError(f"cannot call method {node.name} on {type_name(obj)}")


def _predicate(node: ast.Predicate, ctx: Context) -> Any:
    raise ExpressionError("a predicate can only be an argument of all/any/filter/map/...")


def _let(node: ast.Let, ctx: Context) -> Any:
    value = evaluate_node(node.value, ctx)
    saved = ctx.variables
    ctx.variables = {**saved, node.name: value}
    try:
        return evaluate_node(node.body, ctx)
    finally:
        ctx.variables = saved


def _sequence(node: ast.Sequence, ctx: Context) -> Any:
    result = None
    for item in node.items:
        result = evaluate_node(item, ctx)
    return result


_DISPATCH: dict[type, Callable[[Any, Context], Any]] = {
    ast.Literal: _literal,
    ast.Identifier: _identifier,
    ast.Pointer: _pointer,
    ast.ArrayLit: _array,
    ast.MapLit: _map,
    ast.Member: _member,
    ast.Slice: _slice,
    ast.Chain: _chain,
    ast.Unary: _unary,
    ast.Binary: _binary,
    ast.Conditional: _conditional,
    ast.Call: _call,
    ast.MethodCall: _method_call,
    ast.Predicate: _predicate,
    ast.Let: _let,
    ast.Sequence: _sequence,
}


def run(root: ast.Node, env: dict[str, Any], text: str) -> Any:
    """Evaluate a parsed tree against `env`; every failure is an ExpressionError."""
    if not isinstance(env, dict):
        raise ExpressionError("the environment must be a mapping", expression=text)
    ctx = Context(env)
    try:
        return evaluate_node(root, ctx)
    except ExpressionError as err:
        raise err.with_context(expression=text)
    except _NilChain:  # cannot escape a Chain node, but never leak it
        return None
    except RecursionError:
        raise ExpressionError("expression or data is nested too deeply", expression=text) from None
    except MemoryError:
        raise ExpressionError("expression needs too much memory", expression=text) from None


# Imported last because both import Context and evaluate_node from this module;
# importing them here (not lazily inside _call) keeps file access out of evaluation.
from pipeline.expressions import builtins as _builtins  # noqa: E402
from pipeline.expressions import predicates as _predicates  # noqa: E402
