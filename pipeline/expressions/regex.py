"""`matches`: Go's regexp.MatchString, with Go's RE2 syntax and linear-time matching.

Patterns compile with :func:`pipeline.goregex.compile_go` (google-re2, the engine Go's
``regexp`` reimplements), so no pattern can take exponential time and nothing needs guarding
against backtracking; what Go rejects (lookarounds, backreferences, ...) is an
ExpressionError naming the pattern. Pattern and subject lengths are capped.
"""

from __future__ import annotations

from typing import Any

from pipeline.expressions.errors import ExpressionError
from pipeline.goregex import GoRegexError, compile_go

MAX_PATTERN = 1_000
MAX_SUBJECT = 100_000


def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (cached; ``search``/``match``/``fullmatch`` like Python's)."""
    if len(pattern) > MAX_PATTERN:
        raise ExpressionError(f"regular expression is too long (limit {MAX_PATTERN} characters)")
    try:
        return compile_go(pattern)
    except GoRegexError as exc:
        raise ExpressionError(str(exc)) from None


def matches(subject: str, pattern: str) -> bool:
    """regexp.MatchString: true if the pattern matches anywhere in the subject."""
    if len(subject) > MAX_SUBJECT:
        raise ExpressionError(f"string is too long for `matches` (limit {MAX_SUBJECT} characters)")
    return compile_pattern(pattern).search(subject) is not None
