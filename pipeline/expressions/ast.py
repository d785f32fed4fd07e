"""Syntax tree of an expr-lang expression.

Plain data: the parser builds it, the evaluator walks it. Every node keeps the
0-based position of the token it came from, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class Literal(Node):
    value: Any  # None, bool, int, float or str


@dataclass(slots=True)
class Identifier(Node):
    name: str


@dataclass(slots=True)
class Pointer(Node):
    """`#` (the current element in a predicate), `#index`, `#acc`."""

    name: str = ""


@dataclass(slots=True)
class ArrayLit(Node):
    items: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class MapLit(Node):
    pairs: list[tuple[Node, Node]] = field(default_factory=list)


@dataclass(slots=True)
class Member(Node):
    """`obj.name`, `obj[key]` and their optional forms `obj?.name`, `obj?.[key]`."""

    obj: Node
    key: Node
    optional: bool = False


@dataclass(slots=True)
class Slice(Node):
    obj: Node
    start: Node | None
    stop: Node | None


@dataclass(slots=True)
class Chain(Node):
    """Bounds an optional chain: a nil met by `?.` inside makes the whole chain nil."""

    inner: Node


@dataclass(slots=True)
class Unary(Node):
    op: str  # "not", "-", "+"
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Conditional(Node):
    cond: Node
    then: Node
    otherwise: Node


@dataclass(slots=True)
class Call(Node):
    """`name(args)`: a builtin or a Function from the environment."""

    name: str
    args: list[Node]


@dataclass(slots=True)
class MethodCall(Node):
    """`obj.name(args)`: a method of a record (e.g. semverParse(v).Major())."""

    obj: Node
    name: str
    args: list[Node]
    optional: bool = False


@dataclass(slots=True)
class Predicate(Node):
    """The closure argument of all/any/filter/map/...: evaluated once per element."""

    body: Node


@dataclass(slots=True)
class Let(Node):
    name: str
    value: Node
    body: Node


@dataclass(slots=True)
class Sequence(Node):
    """`a; b; c`: evaluates all, returns the last."""

    items: list[Node]


def children(node: Node) -> list[Node]:
    """Direct sub-nodes, for depth checks and tree walks in tests."""
    if isinstance(node, (Literal, Identifier, Pointer)):
        return []
    if isinstance(node, ArrayLit):
        return list(node.items)
    if isinstance(node, MapLit):
        return [part for pair in node.pairs for part in pair]
    if isinstance(node, Member):
        return [node.obj, node.key]
    if isinstance(node, Slice):
        return [n for n in (node.obj, node.start, node.stop) if n is not None]
    if isinstance(node, Chain):
        return [node.inner]
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, Conditional):
        return [node.cond, node.then, node.otherwise]
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, MethodCall):
        return [node.obj, *node.args]
    if isinstance(node, Predicate):
        return [node.body]
    if isinstance(node, Let):
        return [node.value, node.body]
    if isinstance(node, Sequence):
        return list(node.items)
    return []
