"""Property tests: whatever the input, the expression language returns a value or
raises ExpressionError, finishes quickly, and never reaches Python itself.
"""

from __future__ import annotations

import math
import os
import sys
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline.expressions import ExpressionError, Function, Record, evaluate, promotion_env, render
from pipeline.expressions import ast
from pipeline.expressions.builtins import BUILTINS
from pipeline.expressions.evaluator import run
from pipeline.expressions.parser import PREDICATES

FORBIDDEN_EVENTS = {
    "open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.mkdir", "os.system", "os.exec",
    "os.posix_spawn", "os.fork", "subprocess.Popen", "exec", "compile", "socket.connect", "socket.bind",
    "shutil.rmtree", "ctypes.dlopen", "builtins.input", "object.__getattr__", "object.__setattr__",
}
_watching = False
_seen: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watching or event not in FORBIDDEN_EVENTS:
        return
    if event == "object.__getattr__" and type(args[0]).__name__ in ("frame", "traceback", "generator", "code"):
        return  # hypothesis' own tracer walking frames
    _seen.append(f"{event}{args!r}"[:200])


sys.addaudithook(_audit)


class Trap:
    """An arbitrary Python object in the environment: the evaluator must never poke at it."""

    touched: list[str] = []

    def __getattr__(self, name: str) -> Any:
        Trap.touched.append(name)
        raise AssertionError(f"evaluator read attribute {name!r} of a Python object")

    def __call__(self, *args: Any) -> Any:
        Trap.touched.append("__call__")
        raise AssertionError("evaluator called a Python object")

    def __getitem__(self, key: Any) -> Any:
        Trap.touched.append("__getitem__")
        raise AssertionError("evaluator indexed a Python object")


def _boom(*args: Any) -> Any:
    Trap.touched.append("lambda")
    raise AssertionError("evaluator called a plain callable from the environment")


FREIGHT = {
    "name": "f1", "alias": "a1", "origin": {"kind": "Warehouse", "name": "w"},
    "images": [{"repoURL": "r/app", "tag": "1.0.0", "digest": "sha256:1"}],
    "commits": [{"repoURL": "https://g/r.git", "id": "c1"}],
    "charts": [{"repoURL": "oci://c", "version": "1.0.0"}],
}


def make_env() -> dict[str, Any]:
    env = promotion_env(
        project="p", stage="s", promotion="pr", freight=[FREIGHT],
        vars={"a": 1, "b": "two", "c": [1, 2.5, "x", None, True], "d": {"k": {"n": 3}}},
        outputs={"step": {"out": [1, 2]}}, step_statuses={"step": "Succeeded"}, current_alias="t::x",
    )
    env.update({
        "n": 3, "f": -1.5, "s": "héllo world", "arr": [3, 1, 2], "m": {"x": 1, "__class__": "data"},
        "nothing": None, "trap": Trap(), "traps": [Trap(), {"t": Trap()}], "fn": _boom, "print": print,
        "open": open, "eval": eval, "result": [0.01, 0.5],
    })
    return env


ENV = make_env()
NAMES = sorted(k for k in ENV if isinstance(k, str))


def _check_value(value: Any, depth: int = 0) -> None:
    """A result is plain data (or something the environment itself holds), never a Python internal."""
    assert depth < 500
    if value is None or isinstance(value, (bool, int, float, str, Record, Function, Trap)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item, depth + 1)
        return
    if isinstance(value, dict):
        if value is ENV:
            return
        for item in value.values():
            _check_value(item, depth + 1)
        return
    assert value in (ENV["fn"], ENV["print"], ENV["open"], ENV["eval"]), f"unexpected result {value!r}"


def _evaluate_safely(call) -> None:
    global _watching
    Trap.touched.clear()
    _seen.clear()
    _watching = True
    try:
        try:
            value = call()
        except ExpressionError as err:
            assert "internal error" not in str(err)
            str(err)  # must format
            return
        _check_value(value)
    finally:
        _watching = False
        assert not _seen, f"forbidden operations: {_seen}"
        assert not Trap.touched, f"Python objects touched: {Trap.touched}"


# EXPR_EXAMPLES=5000 runs a longer, randomized search (about 30 s); the default is quick and repeatable.
FAST = settings(
    max_examples=int(os.environ.get("EXPR_EXAMPLES", "500")), deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow],
    derandomize=not os.environ.get("EXPR_EXAMPLES"),
)

# -- random strings ------------------------------------------------------------------

TOKENS = [
    "1", "0x1F", "2.5", ".5", "1e3", "'a'", '"b"', "`c`", "true", "nil", "[", "]", "{", "}", "(", ")", ",", ":",
    ".", "?.", "??", "?", "+", "-", "*", "/", "%", "**", "^", "==", "!=", "<", ">=", "and", "or", "not", "!",
    "in", "contains", "matches", "startsWith", "..", "|", "#", "#index", "#acc", "let", "=", ";", "if", "else",
    " ", "__class__", "__globals__", "_x", "$env", "len", "map", "filter", "all", "upper", "imageFrom", "fn",
    "trap", "open", "eval", "print", "vars", "ctx", "m", "arr", "s", "n", "result", "quote", "toJSON",
]


@FAST
@given(st.text(max_size=80))
def test_random_text_never_escapes(text: str) -> None:
    _evaluate_safely(lambda: evaluate(text, ENV))


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_random_token_soup_never_escapes(parts: list[str]) -> None:
    text = " ".join(parts)
    _evaluate_safely(lambda: evaluate(text, ENV))


@FAST
@given(st.text(alphabet="${}% vars.a+1'\"", max_size=40))
def test_random_templates_never_escape(template: str) -> None:
    _evaluate_safely(lambda: render({"k": [template]}, ENV, source="test"))


# -- random well-formed trees ------------------------------------------------------------

BINARY_OPS = ["+", "-", "*", "/", "%", "**", "==", "!=", "<", ">", "<=", ">=", "and", "or", "in", "contains",
              "startsWith", "endsWith", "matches", "..", "??"]
FUNCTIONS = sorted(set(BUILTINS) | {"imageFrom", "commitFrom", "chartFrom", "warehouse", "quote", "unsafeQuote",
                                     "semverParse", "semverDiff", "status", "success", "fn", "trap", "nope"})

literals = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
    st.sampled_from(["r/app", "https://g/r.git", "1.2.3", "a.*", "(a+)+", "__class__", "__globals__", "Tag"]),
)
leaves = st.one_of(
    literals.map(lambda v: ast.Literal(0, v)),
    st.sampled_from(NAMES + ["unknown", "$env", "__builtins__"]).map(lambda n: ast.Identifier(0, n)),
    st.sampled_from(["", "index", "acc", "bogus"]).map(lambda n: ast.Pointer(0, n)),
)


def _extend(children: st.SearchStrategy[ast.Node]) -> st.SearchStrategy[ast.Node]:
    keys = st.one_of(children, st.sampled_from(["Tag", "__class__", "__dict__", "k", "x", "a"]).map(lambda k: ast.Literal(0, k)))
    return st.one_of(
        st.builds(lambda op, l, r: ast.Binary(0, op, l, r), st.sampled_from(BINARY_OPS), children, children),
        st.builds(lambda op, x: ast.Unary(0, op, x), st.sampled_from(["not", "-", "+"]), children),
        st.builds(lambda o, k, opt: ast.Member(0, o, k, opt), children, keys, st.booleans()),
        st.builds(lambda o, k: ast.Chain(0, ast.Member(0, o, k, True)), children, keys),
        st.builds(lambda o, a, b: ast.Slice(0, o, a, b), children, st.none() | children, st.none() | children),
        st.builds(lambda c, a, b: ast.Conditional(0, c, a, b), children, children, children),
        st.builds(lambda name, args: ast.Call(0, name, args), st.sampled_from(FUNCTIONS), st.lists(children, max_size=3)),
        st.builds(lambda name, coll, body: ast.Call(0, name, [coll, ast.Predicate(0, body)]),
                  st.sampled_from(sorted(PREDICATES)), children, children),
        st.builds(lambda o, name, args: ast.MethodCall(0, o, name, args),
                  children, st.sampled_from(["Major", "String", "IncMinor", "__init__", "fn"]), st.lists(children, max_size=2)),
        st.builds(lambda items: ast.ArrayLit(0, items), st.lists(children, max_size=4)),
        st.builds(lambda pairs: ast.MapLit(0, pairs), st.lists(st.tuples(keys, children), max_size=3)),
        st.builds(lambda name, v, body: ast.Let(0, name, v, body), st.sampled_from(["x", "trap", "len"]), children, children),
        st.builds(lambda items: ast.Sequence(0, items), st.lists(children, min_size=1, max_size=3)),
    )


trees = st.recursive(leaves, _extend, max_leaves=25)


@FAST
@given(trees)
def test_random_trees_never_escape(tree: ast.Node) -> None:
    _evaluate_safely(lambda: run(tree, ENV, "<generated>"))


# -- explicit escapes ------------------------------------------------------------------

ESCAPES = [
    "trap.__class__", "trap.__class__.__bases__", "trap['__dict__']", "trap()", "fn()", "open('/etc/passwd')",
    "eval('1')", "print('x')", "__import__('os')", "m.__class__", "''.__class__", "[].__class__.__mro__",
    "len.__globals__", "toJSON.__code__", "$env.fn()", "$env['open']('/etc/passwd')", "map([trap], #.x)",
    "traps[1].t.y", "vars.__class__.__init__.__globals__", "imageFrom.__globals__", "imageFrom('r/app').__class__",
    "semverParse('1.0.0').__init__()", "ctx.project.upper()", "'x'.join(['a'])", "toJSON(trap)", "string(trap)",
    "trap in [1]", "1 in trap", "trap == trap", "len(trap)", "filter(trap, true)", "quote(trap)",
]


def test_escape_attempts_are_harmless() -> None:
    for text in ESCAPES:
        _evaluate_safely(lambda: evaluate(text, ENV))
    assert evaluate("m.__class__", ENV) == "data"  # a map key like any other
    try:
        evaluate("imageFrom('r/app').__class__", ENV)
        raise AssertionError("a record must not expose Python attributes")
    except ExpressionError as err:
        assert "has no field __class__" in str(err)


BOUNDED = [
    # (expression, the error it stops with, or None when it finishes with a value)
    ("map(1..100000, map(1..100000, #))", "does too much work (limit 200000 steps)"),
    ("repeat(repeat('x', 1000000), 1000000)", "repeat() result is too large"),
    ("let a = repeat('x', 900000); let b = a + a; let c = b + b; let d = c + c; let e = d + d; e + e + e",
     "builds too much text (limit 10000000 characters)"),
    ("'(' * 10", "invalid operation: string * int"),
    ("[" * 200 + "]" * 200, "nested too deeply (limit 100)"),
    ("-" * 500 + "1", "nested too deeply (limit 100)"),
    ("1" + " ?? 1" * 1000, "nested too deeply (limit 100)"),
    ("reduce(1..100000, #acc + #acc, 1)", None),  # within the step budget: int64 wraps, as in Go
    ("'a' matches '(a|aa)+b' ? 1 : 2", None),  # RE2: no catastrophic backtracking
]


def test_bounded_work() -> None:
    """Deep nesting, huge ranges, runaway text and predicates stop with the error naming the
    bound they hit, or finish with a value, each well within a second."""
    import time

    for text, error in BOUNDED:
        started = time.monotonic()
        try:
            value = evaluate(text, ENV)
        except ExpressionError as err:
            assert error is not None, f"{text[:60]!r} failed: {err}"
            assert error in str(err), f"{text[:60]!r}: {err}"
        else:
            assert error is None, f"{text[:60]!r} returned {value!r:.60} instead of stopping with {error!r}"
            _check_value(value)
        assert time.monotonic() - started < 2.0, f"{text[:60]!r} took {time.monotonic() - started:.2f}s"


@FAST
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_arithmetic_on_any_floats(a: float, b: float) -> None:
    env = {"a": a, "b": b}
    for op in ["+", "-", "*", "/", "**", "<", "==", ">="]:
        _evaluate_safely(lambda: evaluate(f"a {op} b", env))
    value = evaluate("a + b", env)
    assert math.isnan(value) or value == a + b
