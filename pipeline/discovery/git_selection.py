"""Commit selection for Warehouse git subscriptions, as Kargo does it (pure: no I/O, no clock).

The activity (``activities/discovery/git.py``) reads commits and tags out of a mirror;
everything that decides *which* of them become Freight candidates lives here:

* Path filters (``includePaths`` / ``excludePaths``): each entry is a base directory
  (plain path), ``glob:<doublestar pattern>`` or ``regex:``/``regexp:<pattern>``. A commit
  qualifies when at least one path it changed is included (every path is, when there are
  no include entries) and not excluded. A commit that changed nothing never qualifies
  once any filter is set.
* ``NewestFromBranch``: first-parent history newest first, optional ``expressionFilter``,
  then path filters, at most ``discoveryLimit``.
* Tag strategies: ``ignoreTagsRegexes`` (any match drops a tag), ``allowTagsRegexes`` (a
  tag must match one when any are given), then ``SemVer`` (valid versions satisfying
  ``semverConstraint``, newest version first, equal versions by tag reverse lexically),
  ``Lexical`` (reverse lexical) or ``NewestTag`` (creator date, newest first). Path
  filters apply to each tag's commit afterwards, in that order, until the limit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pipeline.discovery.selection import _compile as compile_regexes
from pipeline.discovery.semver import (
    Constraints,
    InvalidConstraint,
    Version,
    compare,
    parse_constraint,
    try_parse_version,
)
from pipeline.goregex import compile_go
from pipeline.goregex import escape as go_escape

__all__ = [
    "BranchCommit",
    "PathFilter",
    "Tag",
    "TagRules",
    "base_dir_matches",
    "check_branch_name",
    "commit_entry",
    "commit_filter",
    "compile_glob",
    "order_tags",
    "path_filter",
    "rfc3339",
    "select_branch_commits",
    "shorten",
    "since_timestamp",
    "tag_entry",
    "tag_rules",
]

Strategy = Literal["NewestFromBranch", "SemVer", "Lexical", "NewestTag"]
TAG_STRATEGIES = ("SemVer", "Lexical", "NewestTag")

#: Kargo keeps subjects short so Freight stays small (the 50/72 rule, with slack).
SUBJECT_MAX = 80


# --- small helpers -----------------------------------------------------------------------


def rfc3339(ts: int) -> str:
    """Unix seconds as RFC 3339 in UTC, as Kubernetes serialises a metav1.Time."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def since_timestamp(since: datetime | None) -> int | None:
    """``since`` as unix seconds; a date without a zone is taken as UTC."""
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return int(since.timestamp())


def shorten(text: str, length: int = SUBJECT_MAX) -> str:
    if length >= 3 and len(text) > length:
        return text[: length - 3] + "..."
    return text


_BRANCH_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9._/-]*[a-zA-Z0-9_-])?")


def check_branch_name(name: str) -> str:
    """Kargo's branch pattern, plus git's own rules that pattern lets through."""
    if len(name) > 255 or not _BRANCH_RE.fullmatch(name):
        raise ValueError(f"branch {name!r} is not a valid branch name")
    if ".." in name or "//" in name or "/." in name or name.endswith(".lock"):
        raise ValueError(f"branch {name!r} is not a valid branch name")
    return name


def _compile_regexes(patterns: Iterable[str], field_name: str) -> tuple[Any, ...]:
    """Go regexes (RE2, search semantics) with errors naming the field, as for images."""
    return tuple(compile_regexes(list(patterns), field_name))


# --- path patterns -----------------------------------------------------------------------


class _BadGlob(ValueError):
    pass


def _class(p: str, i: int) -> tuple[str, int]:
    """A ``[...]`` class starting at ``p[i] == '['``; never matches ``/``."""
    n = len(p)
    i += 1
    negate = i < n and p[i] in "^!"
    if negate:
        i += 1
    items: list[tuple[str, str]] = []

    def char(j: int) -> tuple[str, int]:
        if j >= n:
            raise _BadGlob("unterminated character class")
        if p[j] == "\\":
            if j + 1 >= n:
                raise _BadGlob("trailing backslash")
            return p[j + 1], j + 2
        return p[j], j + 1

    while True:
        if i >= n:
            raise _BadGlob("unterminated character class")
        if p[i] == "]":
            break
        lo, i = char(i)
        if i + 1 < n and p[i] == "-" and p[i + 1] != "]":
            hi, i = char(i + 1)
            if hi < lo:
                raise _BadGlob(f"bad range {lo}-{hi}")
            items.append((lo, hi))
        else:
            items.append((lo, lo))
    if not items:
        raise _BadGlob("empty character class")
    if negate:
        return f"[^{_class_body(items)}/]", i + 1
    # RE2 has no lookahead to say "but not /": take "/" out of the ranges instead
    kept = [r for lo, hi in items for r in ((lo, min(hi, ".")), (max(lo, "0"), hi)) if r[0] <= r[1]]
    return (f"[{_class_body(kept)}]" if kept else r"[^\x00-\x{10FFFF}]"), i + 1


def _class_body(ranges: list[tuple[str, str]]) -> str:
    return "".join(go_escape(lo) if lo == hi else f"{go_escape(lo)}-{go_escape(hi)}" for lo, hi in ranges)


def _glob(p: str, i: int, in_braces: bool) -> tuple[str, int]:
    """Translate from ``p[i]`` up to the end, or to the ``,``/``}`` closing an alternative."""
    n = len(p)
    out: list[str] = []
    while i < n:
        c = p[i]
        if in_braces and c in ",}":
            break
        if c == "\\":
            if i + 1 >= n:
                raise _BadGlob("trailing backslash")
            out.append(go_escape(p[i + 1]))
            i += 2
        elif c == "/" and p.startswith("**", i + 1) and (i + 3 == n or p[i + 3] == "/"):
            if i + 3 >= n - 1:  # "/**" or "/**/" at the end: the directory itself or anything below
                out.append("(?:/.*)?")
                i = n
            else:  # "/**/": zero or more directories
                out.append("/(?:.*/)?")
                i += 4
        elif c == "*" and i == 0 and not in_braces and p.startswith("**", i) and (n == 2 or p[2] == "/"):
            out.append(".*" if n == 2 else "(?:.*/)?")
            i = 3 if n > 2 else 2
        elif c == "*":
            while i < n and p[i] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            rx, i = _class(p, i)
            out.append(rx)
        elif c == "{":
            alternatives = []
            i += 1
            while True:
                rx, i = _glob(p, i, True)
                alternatives.append(rx)
                if i >= n:
                    raise _BadGlob("unterminated {alternatives}")
                i += 1
                if p[i - 1] == "}":
                    break
            out.append("(?:" + "|".join(alternatives) + ")")
        else:
            out.append(go_escape(c))
            i += 1
    return "".join(out), i


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> Any:
    """A doublestar (v4) glob as a regex matching whole paths: ``*``, ``?`` and classes
    stay within one path component, ``**`` as a whole component spans any number of
    them (``a/**`` also matches ``a``), ``{a,b}`` alternatives nest, ``\\`` escapes.
    Compiled with RE2 like every other pattern, so nested alternatives cannot backtrack."""
    try:
        rx, _ = _glob(pattern, 0, False)
    except _BadGlob as e:
        raise ValueError(f"invalid glob pattern {pattern!r}: {e}") from None
    return compile_go("(?s)" + rx)


def _go_clean(p: str) -> str:
    """Go's path.Clean: lexical, so results match Kargo's filepath.Rel use."""
    if not p:
        return "."
    rooted = p.startswith("/")
    parts: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
        else:
            parts.append(seg)
    s = "/".join(parts)
    return "/" + s if rooted else (s or ".")


def base_dir_matches(base: str, path: str) -> bool:
    """Kargo's plain path selector: ``path`` is ``base`` or below it. Like Kargo's, the
    test is "the relative path contains no ``..``", so ``a/b..c`` is not under ``a``."""
    b, t = _go_clean(base), _go_clean(path)
    if b == t:
        return True
    if b == ".":
        b = ""
    if b.startswith("/") != t.startswith("/"):
        return False
    if b == "":
        rel = t
    elif b == "/":
        rel = t[1:]
    elif t.startswith(b + "/"):
        rel = t[len(b) + 1 :]
    else:
        return False
    return ".." not in rel


def parse_path_pattern(text: str, field_name: str = "includePaths") -> Callable[[str], bool]:
    """One ``includePaths``/``excludePaths`` entry as a predicate on repository paths."""
    if text.startswith("glob:"):
        try:
            glob = compile_glob(text[len("glob:") :])
        except ValueError as e:
            raise ValueError(f"{field_name}: {e}") from None
        return lambda s: glob.fullmatch(s) is not None
    for prefix in ("regex:", "regexp:"):
        if text.startswith(prefix):
            (rx,) = _compile_regexes([text[len(prefix) :]], field_name)
            return lambda s: rx.search(s) is not None
    return lambda s: base_dir_matches(text, s)


@dataclass(frozen=True)
class PathFilter:
    """Compiled include/exclude selectors; ``None`` means the list was empty."""

    include: tuple[Callable[[str], bool], ...] | None = None
    exclude: tuple[Callable[[str], bool], ...] | None = None

    @property
    def active(self) -> bool:
        return self.include is not None or self.exclude is not None

    def matches(self, paths: Iterable[str]) -> bool:
        """True when some path is included (or nothing is listed) and not excluded."""
        for path in paths:
            if self.include is not None and not any(m(path) for m in self.include):
                continue
            if self.exclude is not None and any(m(path) for m in self.exclude):
                continue
            return True
        return False


def path_filter(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> PathFilter:
    """Compile the subscription's path selectors; a bad glob or regex raises ValueError."""
    inc = tuple(parse_path_pattern(p, "includePaths") for p in include) if include else None
    exc = tuple(parse_path_pattern(p, "excludePaths") for p in exclude) if exclude else None
    return PathFilter(inc, exc)


# --- expressionFilter --------------------------------------------------------------------


def commit_filter(expression: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """``expressionFilter`` as a predicate on a commit's or tag's metadata (expr-lang, as
    Kargo evaluates it; a non-boolean result must read as one, like Go's ParseBool).
    Dates are offered as RFC 3339 strings: Gantry's expr has no time type."""
    if not expression:
        return None
    from pipeline.expressions import ExpressionError, compile_expression

    try:
        program = compile_expression(expression)
    except ExpressionError as e:
        raise ValueError(f"invalid expressionFilter {expression!r}: {e}") from None

    def check(env: dict[str, Any]) -> bool:
        try:
            result = program.evaluate(env)
        except ExpressionError as e:
            raise ValueError(f"expressionFilter {expression!r}: {e}") from None
        return _as_bool(result, expression)

    return check


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _as_bool(value: Any, expression: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expressionFilter {expression!r} must give a boolean, got {value!r}")


# --- commits on a branch -----------------------------------------------------------------


@dataclass(frozen=True)
class BranchCommit:
    id: str
    committed: int  # committer date, unix seconds
    author: str
    committer: str
    subject: str

    def env(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "commitDate": rfc3339(self.committed),
            "author": self.author,
            "committer": self.committer,
            "subject": self.subject,
        }


def select_branch_commits(
    entries: Iterable[tuple[BranchCommit, Sequence[str]]],
    *,
    limit: int,
    paths: PathFilter | None = None,
    expression: Callable[[dict[str, Any]], bool] | None = None,
    since: int | None = None,
) -> list[BranchCommit]:
    """The first ``limit`` commits (newest first) that pass the filters. ``entries`` is
    consumed lazily, so a streaming reader stops as soon as enough qualify; with
    ``since``, history stops at the first commit older than it."""
    selected: list[BranchCommit] = []
    if limit < 1:
        return selected
    for commit, changed in entries:
        if since is not None and commit.committed < since:
            break
        if expression is not None and not expression(commit.env()):
            continue
        if paths is not None and paths.active and not paths.matches(changed):
            continue
        selected.append(commit)
        if len(selected) >= limit:
            break
    return selected


def commit_entry(c: BranchCommit, branch: str) -> dict[str, Any]:
    """Kargo's DiscoveredCommit for a branch commit."""
    return {
        "id": c.id,
        "branch": branch,
        "subject": shorten(c.subject),
        "author": c.author,
        "committer": c.committer,
        "creatorDate": rfc3339(c.committed),
    }


# --- tags --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    name: str  # without refs/tags/
    commit: str
    created: int  # tagger date of an annotated tag, else the commit's committer date
    subject: str  # of the commit
    author: str
    committer: str
    tagger: str = ""
    annotation: str = ""

    def env(self) -> dict[str, Any]:
        return {
            "tag": self.name,
            "id": self.commit,
            "creatorDate": rfc3339(self.created),
            "author": self.author,
            "committer": self.committer,
            "subject": self.subject,
            "tagger": self.tagger,
            "annotation": self.annotation,
        }


@dataclass(frozen=True)
class TagRules:
    strategy: Strategy
    allow: tuple[Any, ...] = ()
    ignore: tuple[Any, ...] = ()
    constraint: Constraints | None = None
    strict: bool = True
    _versions: dict[str, Version | None] = field(default_factory=dict, compare=False, repr=False)

    def version(self, tag: str) -> Version | None:
        if tag not in self._versions:
            self._versions[tag] = try_parse_version(tag, strict=self.strict)
        return self._versions[tag]

    def admits(self, tag: str) -> bool:
        """Tag-name rules alone: regexes, and for SemVer a version within the constraint."""
        if any(r.search(tag) for r in self.ignore):
            return False
        if self.allow and not any(r.search(tag) for r in self.allow):
            return False
        if self.strategy != "SemVer":
            return True
        v = self.version(tag)
        return v is not None and (self.constraint is None or self.constraint.check(v))


def tag_rules(
    strategy: Strategy,
    *,
    semver_constraint: str | None = None,
    strict_semvers: bool = True,
    allow_regexes: Sequence[str] = (),
    ignore_regexes: Sequence[str] = (),
    allow_tags: str | None = None,
    ignore_tags: Sequence[str] = (),
) -> TagRules:
    """Compile the tag rules. The deprecated ``allowTags`` (one regex) joins the allow
    list and ``ignoreTags`` (exact names) the ignore list, as Kargo did until v1.11. A
    constraint is checked whatever the strategy (Kargo's validation) but used by SemVer."""
    if strategy not in TAG_STRATEGIES:
        raise ValueError(f"{strategy!r} is not a tag selection strategy")
    allow = _compile_regexes(allow_regexes, "allowTagsRegexes")
    if allow_tags:
        allow += _compile_regexes([allow_tags], "allowTags")
    ignore = _compile_regexes(ignore_regexes, "ignoreTagsRegexes")
    ignore += tuple(compile_go(f"^{go_escape(t)}$") for t in ignore_tags)
    constraint = None
    if semver_constraint:
        try:
            constraint = parse_constraint(semver_constraint)
        except InvalidConstraint as e:
            raise ValueError(f"invalid semverConstraint {semver_constraint!r}: {e}") from None
    return TagRules(strategy, allow, ignore, constraint if strategy == "SemVer" else None, strict_semvers)


def order_tags(
    tags: Iterable[Tag],
    rules: TagRules,
    *,
    expression: Callable[[dict[str, Any]], bool] | None = None,
    since: int | None = None,
) -> list[Tag]:
    """The admitted tags in the strategy's order (best first), before path filtering.
    ``since`` drops tags created before it (Kargo applies ``since`` to branches only)."""
    kept = [
        t
        for t in tags
        if rules.admits(t.name)
        and (since is None or t.created >= since)
        and (expression is None or expression(t.env()))
    ]
    if rules.strategy == "Lexical":
        return sorted(kept, key=lambda t: t.name, reverse=True)
    if rules.strategy == "NewestTag":
        # git's for-each-ref --sort=-creatordate: ties keep refname order
        return sorted(sorted(kept, key=lambda t: t.name), key=lambda t: t.created, reverse=True)

    def best_first(a: Tag, b: Tag) -> int:
        va, vb = rules.version(a.name), rules.version(b.name)
        assert va is not None and vb is not None
        d = compare(vb, va)
        if d:
            return d
        return (a.name < b.name) - (a.name > b.name)

    return sorted(kept, key=functools.cmp_to_key(best_first))


def tag_entry(t: Tag) -> dict[str, Any]:
    """Kargo's DiscoveredCommit for a tagged commit."""
    return {
        "id": t.commit,
        "tag": t.name,
        "subject": shorten(t.subject),
        "author": t.author,
        "committer": t.committer,
        "creatorDate": rfc3339(t.created),
    }
