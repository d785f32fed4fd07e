"""`matches` with a guard: Go's RE2 never backtracks, Python's `re` can.

We accept the RE2 subset that Python's `re` treats the same way and refuse the
constructs that either RE2 rejects (lookarounds, backreferences) or that make
backtracking explode (a quantified group that itself contains a quantifier,
such as `(a+)+`). Pattern and subject lengths are capped too.
"""

from __future__ import annotations

import functools
import re

from pipeline.expressions.errors import ExpressionError

MAX_PATTERN = 1_000
MAX_SUBJECT = 100_000
_QUANTIFIERS = "*+?{"


def _check(pattern: str) -> None:
    if len(pattern) > MAX_PATTERN:
        raise ExpressionError(f"regular expression is too long (limit {MAX_PATTERN} characters)")
    for bad in ("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?("):
        if bad in pattern:
            raise ExpressionError(f"invalid regular expression: `{bad}` is not supported (RE2 syntax)")
    # Walk the pattern tracking, per open group, whether it contains a quantifier.
    stack: list[bool] = []
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            if nxt.isdigit() and nxt != "0" and not in_class:
                raise ExpressionError("invalid regular expression: backreferences are not supported (RE2 syntax)")
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            i += 1
            continue
        if ch == "[":
            in_class = True
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            continue
        if ch == "(":
            stack.append(False)
        elif ch == ")":
            inner_quantified = stack.pop() if stack else False
            following = pattern[i + 1] if i + 1 < n else ""
            if following in _QUANTIFIERS and following and inner_quantified:
                raise ExpressionError(
                    "regular expression has a quantified group containing a quantifier "
                    "(like `(a+)+`), which can take exponential time; simplify it"
                )
            if stack and (inner_quantified or following in _QUANTIFIERS and following):
                stack[-1] = True
        elif ch in _QUANTIFIERS and stack:
            stack[-1] = True
        i += 1


def _translate(pattern: str) -> str:
    # RE2's \z (end of text) is Python's \Z.
    return pattern.replace("\\z", "\\Z")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    _check(pattern)
    try:
        return re.compile(_translate(pattern))
    except (re.error, RecursionError, OverflowError) as exc:
        raise ExpressionError(f"invalid regular expression {pattern!r}: {exc}") from None


def matches(subject: str, pattern: str) -> bool:
    """regexp.MatchString: true if the pattern matches anywhere in the subject."""
    if len(subject) > MAX_SUBJECT:
        raise ExpressionError(f"string is too long for `matches` (limit {MAX_SUBJECT} characters)")
    return compile_pattern(pattern).search(subject) is not None
