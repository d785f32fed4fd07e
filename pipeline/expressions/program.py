"""Compiled (parsed) expressions and their cache.

Parsing is the expensive part; conditions such as `result[0] < 0.05` are
evaluated again at every measurement, so parsed trees are cached by text.
"""

from __future__ import annotations

import functools
from typing import Any

from pipeline.expressions import ast
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.evaluator import run
from pipeline.expressions.parser import parse


class Program:
    """A parsed expression; evaluate it against any number of environments."""

    __slots__ = ("text", "tree")

    def __init__(self, text: str, tree: ast.Node):
        self.text = text
        self.tree = tree

    def evaluate(self, env: dict[str, Any]) -> Any:
        return run(self.tree, env, self.text)

    def __repr__(self) -> str:
        return f"Program({self.text!r})"


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Program:
    return Program(text, parse(text))


def compile_expression(text: str) -> Program:
    """Parse `text` (cached); raises ExpressionError on a syntax error."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}")
    return _compile(text)


def evaluate(text: str, env: dict[str, Any]) -> Any:
    """Parse (cached) and evaluate one expression."""
    return compile_expression(text).evaluate(env)
