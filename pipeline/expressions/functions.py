"""Which function names a `${{ }}` may call, per place, and which ones a template calls.

`validate` refuses a template that calls a function Gantry does not have, rather than
letting the promotion fail when it reaches the step. The names come from the same
environments the promotion renders with, so the list cannot drift from what runs.
"""

from __future__ import annotations

import difflib

from pipeline.expressions import ast
from pipeline.expressions.builtins import BUILTINS
from pipeline.expressions.data import SECRET_FUNCTIONS
from pipeline.expressions.kargo import criteria_env, promotion_env, verification_env
from pipeline.expressions.parser import parse
from pipeline.expressions.predicates import PREDICATE_BUILTINS
from pipeline.expressions.values import Function

_EXPR_LANG = frozenset(BUILTINS) | frozenset(PREDICATE_BUILTINS)


def _functions_of(env: dict) -> frozenset[str]:
    return frozenset(name for name, value in env.items() if isinstance(value, Function))


#: place -> the functions its templates may call (expr-lang's builtins and Kargo's)
KNOWN_FUNCTIONS: dict[str, frozenset[str]] = {
    "promotion": _EXPR_LANG | _functions_of(promotion_env(project="", stage="", freight=[])),
    # vars and `if` are evaluated by the workflow, which never sees a secret
    "promotion vars": _EXPR_LANG | (_functions_of(promotion_env(project="", stage="", freight=[])) - set(SECRET_FUNCTIONS)),
    "verification": _EXPR_LANG
    | (_functions_of(verification_env(project="", stage="", freight=[])) - set(SECRET_FUNCTIONS)),
    "criteria": _EXPR_LANG | _functions_of(criteria_env({})),
}


def called_functions(expression: str) -> list[tuple[str, int]]:
    """(name, 0-based offset) of every plain call `name(...)` in the expression.

    Raises ExpressionError when the expression does not parse.
    """
    found: list[tuple[str, int]] = []
    bound: set[str] = set()
    stack: list[ast.Node] = [parse(expression)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Let):
            bound.add(node.name)
        if isinstance(node, ast.Call) and node.name not in bound:
            found.append((node.name, node.pos))
        stack.extend(ast.children(node))
    return sorted(found, key=lambda item: item[1])


def unknown_function_message(name: str, place: str) -> str:
    """`unknown function foo(); did you mean 'bar'?` for a name not in KNOWN_FUNCTIONS[place]."""
    known = KNOWN_FUNCTIONS[place]
    if name in SECRET_FUNCTIONS and name in KNOWN_FUNCTIONS["promotion"]:
        return f"{name}() can only be used in a step's config (its worker resolves it; vars and `if` are evaluated by the workflow)"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else " (docs/expressions.md lists the functions)"
    return f"unknown function {name}(){hint}"
