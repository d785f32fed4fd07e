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


#: Kargo's own functions (its expressions reference, and artifactFrom), whether Gantry has them or not
KARGO_FUNCTIONS: frozenset[str] = frozenset(
    {
        "always", "artifactFrom", "asJSON", "asYAML", "chartFrom", "commitFrom", "configMap",
        "failure", "freightMetadata", "freightStatus", "imageFrom", "quote", "secret",
        "semverDiff", "semverParse", "sharedConfigMap", "sharedSecret", "stageMetadata",
        "status", "success", "unsafeQuote", "warehouse",
    }
)  # fmt: skip

#: expr-lang's builtin functions (its language definition), whether Gantry has them or not
EXPR_LANG_FUNCTIONS: frozenset[str] = frozenset(
    {
        "abs", "all", "any", "bitand", "bitnand", "bitnot", "bitor", "bitshl", "bitshr",
        "bitushr", "bitxor", "ceil", "concat", "count", "date", "duration", "filter", "find",
        "findIndex", "findLast", "findLastIndex", "first", "flatten", "float", "floor",
        "fromBase64", "fromJSON", "fromPairs", "get", "groupBy", "hasPrefix", "hasSuffix",
        "indexOf", "int", "join", "keys", "last", "lastIndexOf", "len", "lower", "map", "max",
        "mean", "median", "min", "none", "now", "one", "reduce", "repeat", "replace", "reverse",
        "round", "sort", "sortBy", "split", "splitAfter", "string", "sum", "take", "timezone",
        "toBase64", "toJSON", "toPairs", "trim", "trimPrefix", "trimSuffix", "type", "uniq",
        "upper", "values",
    }
)  # fmt: skip

_FROM_FREIGHT = "with two Warehouses' Freight carrying the repository and no origin, the ambiguity is found from the Freight (Kargo reads the Warehouses' subscriptions)"
_READ_AT_START = "read once when the promotion starts, as a workflow may not read later"
_METADATA = "read once when the promotion starts; the promotion's own `set-metadata` steps are seen by later steps"
_NAMED_FREIGHT = "a computed Freight name other than the promotion's own is an error: name it literally"
_TIMES = "times have microseconds, not nanoseconds; only UTC and fixed offsets exist"

#: function -> where Gantry's behaves unlike Kargo's or expr-lang's, one line each
#: (docs/kargo-compatibility.md is generated from it; docs/expressions.md says why)
FUNCTION_DIFFERENCES: dict[str, tuple[str, ...]] = {
    "artifactFrom": ("always `nil`: Gantry's Warehouses have no generic subscriptions",),
    "asYAML": ("close to, not byte-identical with, Go's yaml.v3 output",),
    "chartFrom": (_FROM_FREIGHT, "`nil` rather than Kargo's \"not found\" error when no Freight carries the chart"),
    "commitFrom": (_FROM_FREIGHT,),
    "imageFrom": (_FROM_FREIGHT,),
    "configMap": (_READ_AT_START, "a ConfigMap document applied to the project; its data is limited to 64 KB"),
    "sharedConfigMap": (_READ_AT_START, "a ConfigMap document applied to the shared namespace; its data is limited to 64 KB"),
    "stageMetadata": (_METADATA,),
    "freightMetadata": (_METADATA, _NAMED_FREIGHT),
    "freightStatus": (_METADATA, _NAMED_FREIGHT),
    "secret": ("a secret of the worker's credentials file, not a Kubernetes Secret", "in a step's `config` only (not `vars`, `if` or verification args), resolved by the step's worker"),
    "sharedSecret": ("a shared secret of the worker's credentials file, not a Kubernetes Secret", "in a step's `config` only (not `vars`, `if` or verification args), resolved by the step's worker"),
    "now": ("the workflow's time, so a replay renders what the first run did; no time zone argument", _TIMES),
    "date": ("the time zone argument accepts only `\"UTC\"`", _TIMES, "`Month()` and `Weekday()` are numbers (Go prints names)"),
    "duration": ("microsecond precision (Go: nanoseconds)",),
}
