"""Builtins that take a predicate (closure): all, any, filter, map, reduce, ...

Inside the predicate `#` is the current element, `#index` its index and
`#acc` the accumulator of reduce(); `.Field` is short for `#.Field`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from pipeline.expressions import ast, operators as ops
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.evaluator import Context, evaluate_node
from pipeline.expressions.values import is_number, type_name


def _collection(node: ast.Call, ctx: Context) -> list[Any]:
    if not node.args:
        raise ExpressionError(f"{node.name}() needs an array argument")
    value = evaluate_node(node.args[0], ctx)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ExpressionError(f"{node.name}() cannot iterate over {type_name(value)}")


def _predicate_arg(node: ast.Call, index: int = 1) -> ast.Predicate | None:
    if len(node.args) > index and isinstance(node.args[index], ast.Predicate):
        return node.args[index]
    return None


def _apply(pred: ast.Predicate, ctx: Context, item: Any, index: int, acc: Any = None) -> Any:
    ctx.spend(1)
    ctx.frames.append({"#": item, "index": index, "acc": acc})
    try:
        return evaluate_node(pred.body, ctx)
    finally:
        ctx.frames.pop()


def _test(pred: ast.Predicate, ctx: Context, item: Any, index: int, name: str) -> bool:
    result = _apply(pred, ctx, item, index)
    if not isinstance(result, bool):
        raise ExpressionError(f"predicate of {name}() must return a bool, got {type_name(result)}")
    return result


def _required(node: ast.Call) -> ast.Predicate:
    pred = _predicate_arg(node)
    if pred is None:
        raise ExpressionError(f"{node.name}() needs a predicate, e.g. {node.name}(list, # > 0)")
    return pred


def _all(node: ast.Call, ctx: Context) -> bool:
    items, pred = _collection(node, ctx), _required(node)
    return all(_test(pred, ctx, item, i, "all") for i, item in enumerate(items))


def _any(node: ast.Call, ctx: Context) -> bool:
    items, pred = _collection(node, ctx), _required(node)
    return any(_test(pred, ctx, item, i, "any") for i, item in enumerate(items))


def _none(node: ast.Call, ctx: Context) -> bool:
    items, pred = _collection(node, ctx), _required(node)
    return not any(_test(pred, ctx, item, i, "none") for i, item in enumerate(items))


def _one(node: ast.Call, ctx: Context) -> bool:
    items, pred = _collection(node, ctx), _required(node)
    found = 0
    for i, item in enumerate(items):
        if _test(pred, ctx, item, i, "one"):
            found += 1
            if found > 1:
                return False
    return found == 1


def _filter(node: ast.Call, ctx: Context) -> list[Any]:
    items, pred = _collection(node, ctx), _required(node)
    return [item for i, item in enumerate(items) if _test(pred, ctx, item, i, "filter")]


def _map(node: ast.Call, ctx: Context) -> list[Any]:
    items, pred = _collection(node, ctx), _required(node)
    return [_apply(pred, ctx, item, i) for i, item in enumerate(items)]


def _count(node: ast.Call, ctx: Context) -> int:
    items = _collection(node, ctx)
    pred = _predicate_arg(node)
    if pred is None:
        for item in items:
            if not isinstance(item, bool):
                raise ExpressionError(f"count() without a predicate counts bools, got {type_name(item)}")
        return sum(1 for item in items if item)
    return sum(1 for i, item in enumerate(items) if _test(pred, ctx, item, i, "count"))


def _sum(node: ast.Call, ctx: Context) -> Any:
    items = _collection(node, ctx)
    pred = _predicate_arg(node)
    values = items if pred is None else [_apply(pred, ctx, item, i) for i, item in enumerate(items)]
    total: Any = 0
    for value in values:
        if not is_number(value):
            raise ExpressionError(f"sum() needs numbers, got {type_name(value)}")
        total = ops.add(total, value)
    return total


def _finder(last: bool, want_index: bool) -> Callable[[ast.Call, Context], Any]:
    def find(node: ast.Call, ctx: Context) -> Any:
        items, pred = _collection(node, ctx), _required(node)
        order = range(len(items) - 1, -1, -1) if last else range(len(items))
        for i in order:
            if _test(pred, ctx, items[i], i, node.name):
                return i if want_index else items[i]
        return -1 if want_index else None

    return find


def _group_by(node: ast.Call, ctx: Context) -> dict[Any, list[Any]]:
    items, pred = _collection(node, ctx), _required(node)
    groups: dict[Any, list[Any]] = {}
    for i, item in enumerate(items):
        key = _apply(pred, ctx, item, i)
        try:
            groups.setdefault(key, []).append(item)
        except TypeError:
            raise ExpressionError(f"groupBy() key must be a string, number or bool, got {type_name(key)}") from None
    return groups


def _order(node: ast.Call, ctx: Context, index: int) -> bool:
    if len(node.args) <= index:
        return False
    order = evaluate_node(node.args[index], ctx)
    if order not in ("asc", "desc"):
        raise ExpressionError(f'unknown sort order {order!r}; use "asc" or "desc"')
    return order == "desc"


def _sort_by(node: ast.Call, ctx: Context) -> list[Any]:
    items, pred = _collection(node, ctx), _required(node)
    keyed = [(_apply(pred, ctx, item, i), item) for i, item in enumerate(items)]
    descending = _order(node, ctx, 2)

    def cmp(a: tuple[Any, Any], b: tuple[Any, Any]) -> int:
        if ops.compare("<", a[0], b[0]):
            return -1
        return 1 if ops.compare(">", a[0], b[0]) else 0

    keyed.sort(key=functools.cmp_to_key(cmp), reverse=descending)
    return [item for _, item in keyed]


def _reduce(node: ast.Call, ctx: Context) -> Any:
    items, pred = _collection(node, ctx), _required(node)
    if len(node.args) > 2:
        acc = evaluate_node(node.args[2], ctx)
        start = 0
    else:
        if not items:
            raise ExpressionError("reduce() of an empty array needs an initial value")
        acc, start = items[0], 1
    for i in range(start, len(items)):
        acc = _apply(pred, ctx, items[i], i, acc)
    return acc


PREDICATE_BUILTINS: dict[str, Callable[[ast.Call, Context], Any]] = {
    "all": _all,
    "any": _any,
    "none": _none,
    "one": _one,
    "filter": _filter,
    "map": _map,
    "count": _count,
    "sum": _sum,
    "find": _finder(False, False),
    "findIndex": _finder(False, True),
    "findLast": _finder(True, False),
    "findLastIndex": _finder(True, True),
    "groupBy": _group_by,
    "sortBy": _sort_by,
    "reduce": _reduce,
}
