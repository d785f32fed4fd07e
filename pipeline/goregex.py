"""Regular expressions as Go's ``regexp`` reads them, matched in linear time (RE2).

Every pattern that comes from a manifest, a repository or a credential (expressions'
``matches``, tag allow/ignore lists, path filters, stage selectors, credential URL regexes,
.helmignore globs) is compiled here with `google-re2 <https://pypi.org/project/google-re2/>`_,
the C++ engine Go's ``regexp`` package reimplements. The syntax is Go's (the one Kargo and
expr-lang use), and matching never backtracks: ``^(a|a)*$`` against 26 a's and a ``!``
answers in microseconds where Python's ``re`` takes seconds.

What Go refuses is refused with a :class:`GoRegexError` (a ``ValueError``) naming the
pattern: backreferences (``\\1``), lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``), atomic
groups (``(?>``), possessive and nested quantifiers (``a++``, ``a**``), ``\\Z`` (Go's end of
text is ``\\z``) and ``\\C`` (RE2 C++ accepts it, Go does not).

RE2's default options are Go's ``regexp.Compile``: UTF-8, Perl classes, leftmost-first
matching, ``.`` does not match a newline unless ``(?s)``, ``^``/``$`` match at the ends of the
text unless ``(?m)``, and ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII (Python's ``re`` makes
them Unicode: Go is right here). The compiled object has ``search``, ``match`` and
``fullmatch`` like Python's.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

__all__ = ["GoRegexError", "compile_go", "escape"]

MAX_PATTERN = 4_096


class GoRegexError(ValueError):
    """A pattern Go's ``regexp`` would not compile; the message names the pattern."""

    def __init__(self, pattern: str, detail: str) -> None:
        self.pattern = pattern
        self.detail = detail
        super().__init__(f"invalid regular expression {pattern!r}: {detail}")


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is raised to the caller; RE2 would also print it to stderr

_HINTS = (
    ("invalid perl operator: (?=", "lookahead `(?=` is not supported (Go's RE2 syntax has no lookaround)"),
    ("invalid perl operator: (?!", "negative lookahead `(?!` is not supported (Go's RE2 syntax has no lookaround)"),
    ("invalid perl operator: (?<=", "lookbehind `(?<=` is not supported (Go's RE2 syntax has no lookaround)"),
    ("invalid perl operator: (?<!", "negative lookbehind `(?<!` is not supported (Go's RE2 syntax has no lookaround)"),
    ("invalid perl operator: (?>", "atomic group `(?>` is not supported (Go's RE2 syntax)"),
    ("invalid escape sequence: \\Z", "`\\Z` is not supported: Go's end of text is `\\z`"),
)


def _go_only(pattern: str) -> None:
    """What RE2 C++ accepts but Go does not: ``\\C`` (any byte)."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] != "\\" or i + 1 >= n:
            i += 1
            continue
        nxt = pattern[i + 1]
        if nxt == "C":
            raise GoRegexError(pattern, "`\\C` is not supported (Go's RE2 syntax)")
        if nxt == "Q":  # \Q...\E is literal text
            end = pattern.find("\\E", i + 2)
            i = n if end < 0 else end + 2
            continue
        i += 2


def _detail(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for needle, hint in _HINTS:
        if text.startswith(needle):
            return hint
    if text.startswith("invalid escape sequence: \\") and text[-1:].isdigit():
        return f"backreference `{text.rsplit(' ', 1)[-1]}` is not supported (Go's RE2 syntax)"
    if text.startswith("bad repetition operator"):
        return f"{text} (possessive and nested quantifiers are not supported in Go's RE2 syntax)"
    return text


@functools.lru_cache(maxsize=512)
def compile_go(pattern: str) -> Any:
    """The RE2-compiled ``pattern`` (cached); GoRegexError when Go would refuse it."""
    if not isinstance(pattern, str):
        raise GoRegexError(str(pattern), "a pattern must be a string")
    if len(pattern) > MAX_PATTERN:
        raise GoRegexError(pattern[:40] + "...", f"a pattern is limited to {MAX_PATTERN} characters")
    _go_only(pattern)
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise GoRegexError(pattern, _detail(exc)) from None


def escape(text: str) -> str:
    """``text`` as a pattern matching it literally (Go's ``regexp.QuoteMeta``)."""
    return re2.escape(text)
