"""Semantic versions and constraints as Kargo evaluates them (Masterminds/semver v3 rules).

Pure code: no I/O, no clock. Behaviour follows Masterminds/semver v3 (the library Kargo's
image, git and chart subscriptions use), re-implemented from its documented rules:

* Versions: an optional leading ``v``; ``strict=True`` needs MAJOR.MINOR.PATCH with an
  optional ``-prerelease`` and ``+build``; ``strict=False`` also accepts ``1.2`` and ``1``
  (missing parts are 0). Numeric parts and numeric prerelease identifiers have no leading
  zeros. Build metadata never affects ordering or equality.
* Ordering: major, minor, patch numerically; a release is newer than its prereleases;
  prereleases compare identifier by identifier (numbers numerically and below words,
  words by byte order, a shorter list of equal identifiers is older).
* Constraints: ``=``/none, ``!=``, ``>``, ``<``, ``>=``/``=>``, ``<=``/``=<``, ``~``/``~>``,
  ``^``, wildcards ``x``/``X``/``*`` (``1.x``, ``1.2.*``, ``*``), hyphen ranges
  ``1.2 - 1.4.5`` (inclusive), comma or space = AND, ``||`` = OR. A version with a
  prerelease matches an AND group only when some constraint in that group names a
  prerelease.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

__all__ = [
    "Constraints",
    "InvalidConstraint",
    "InvalidVersion",
    "Version",
    "compare",
    "parse_constraint",
    "parse_version",
    "try_parse_version",
]

_UINT64_MAX = 2**64 - 1


class InvalidVersion(ValueError):
    """A string is not a semantic version (under the chosen strictness)."""


class InvalidConstraint(ValueError):
    """A string is not a constraint Masterminds/semver v3 accepts."""


_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_META_ID = r"[0-9A-Za-z-]+"
_LOOSE_RE = re.compile(
    rf"v?({_NUM})(?:\.({_NUM}))?(?:\.({_NUM}))?"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+({_META_ID}(?:\.{_META_ID})*))?"
)
_STRICT_RE = re.compile(
    rf"v?({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+({_META_ID}(?:\.{_META_ID})*))?"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = field(default="")

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            s += f"-{self.prerelease}"
        if self.metadata:
            s += f"+{self.metadata}"
        return s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return compare(self, other) == 0

    def __lt__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return compare(self, other) < 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.prerelease))


def parse_version(text: str, *, strict: bool = False) -> Version:
    """Parse ``text``; raise InvalidVersion naming it when it is not a version."""
    m = (_STRICT_RE if strict else _LOOSE_RE).fullmatch(text)
    if m is None:
        kind = "strict semantic version (MAJOR.MINOR.PATCH)" if strict else "semantic version"
        raise InvalidVersion(f"{text!r} is not a valid {kind}")
    nums = [int(g) if g is not None else 0 for g in m.group(1, 2, 3)]
    if any(n > _UINT64_MAX for n in nums):
        raise InvalidVersion(f"{text!r} has a version number that does not fit in 64 bits")
    return Version(nums[0], nums[1], nums[2], m.group(4) or "", m.group(5) or "", text)


def try_parse_version(text: str, *, strict: bool = False) -> Version | None:
    try:
        return parse_version(text, strict=strict)
    except InvalidVersion:
        return None


def _compare_pre_part(a: str, b: str) -> int:
    if a == b:
        return 0
    if a == "":
        return -1
    if b == "":
        return 1
    a_num, b_num = a.isdigit() and a.isascii(), b.isdigit() and b.isascii()
    if a_num and b_num:
        return 1 if int(a) > int(b) else -1
    if a_num:
        return -1  # numeric identifiers have lower precedence than alphanumeric ones
    if b_num:
        return 1
    return 1 if a > b else -1


def _compare_prerelease(a: str, b: str) -> int:
    ap, bp = a.split("."), b.split(".")
    for i in range(max(len(ap), len(bp))):
        d = _compare_pre_part(ap[i] if i < len(ap) else "", bp[i] if i < len(bp) else "")
        if d:
            return d
    return 0


def compare(a: Version, b: Version) -> int:
    """-1, 0 or 1 as ``a`` is older than, as new as, or newer than ``b`` (metadata ignored)."""
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return 1 if x > y else -1
    if a.prerelease == b.prerelease:
        return 0
    if not a.prerelease:
        return 1
    if not b.prerelease:
        return -1
    return _compare_prerelease(a.prerelease, b.prerelease)


# --- constraints -------------------------------------------------------------------------

# Operator alternatives in Masterminds' order (the order matters for leftmost-first matching).
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CV_PART = r"[0-9xX*]+"
_CV = (
    rf"v?({_CV_PART})(\.{_CV_PART})?(\.{_CV_PART})?"
    r"(-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
    r"(\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_CV_NOGROUPS = re.sub(r"\((?!\?)", "(?:", _CV)
_ONE_RE = re.compile(rf"\s*({_OPS})\s*({_CV})\s*", re.ASCII)
_FIND_RE = re.compile(rf"(?:{_OPS})\s*(?:{_CV_NOGROUPS})", re.ASCII)
_VALID_RE = re.compile(
    rf"\s*(?:{_OPS})\s*(?:{_CV_NOGROUPS})\s*"
    rf"(?:(?:\s+|,\s*)(?:{_OPS})\s*(?:{_CV_NOGROUPS})\s*)*",
    re.ASCII,
)
_RANGE_RE = re.compile(rf"\s*(?P<lo>{_CV_NOGROUPS})\s+-\s+(?P<hi>{_CV_NOGROUPS})\s*", re.ASCII)


def _is_x(s: str) -> bool:
    return s in ("x", "X", "*")


@dataclass(frozen=True)
class _Constraint:
    op: str
    orig: str
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return _OP_FUNCS[self.op](v, self)

    def __str__(self) -> str:
        return self.op + self.orig


def _parse_one(text: str) -> _Constraint:
    m = _ONE_RE.fullmatch(text)
    if m is None:
        raise InvalidConstraint(f"improper constraint: {text!r}")
    op, orig, major, dminor, dpatch, pre = m.group(1, 2, 3, 4, 5, 6)
    dminor, dpatch, pre = dminor or "", dpatch or "", pre or ""
    dirty = minor_dirty = patch_dirty = False
    ver = orig
    if _is_x(major):
        ver, dirty = f"0.0.0{pre}", True
    elif dminor == "" or _is_x(dminor[1:]):
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif dpatch == "" or _is_x(dpatch[1:]):
        ver, dirty, patch_dirty = f"{major}{dminor}.0{pre}", True, True
    try:
        con = parse_version(ver)
    except InvalidVersion:
        raise InvalidConstraint(f"improper constraint: {text.strip()!r} has an invalid version") from None
    return _Constraint(op, orig, con, dirty, minor_dirty, patch_dirty)


def _tilde_or_equal(v: Version, c: _Constraint) -> bool:
    if c.dirty:
        return _tilde(v, c)
    return compare(v, c.con) == 0


def _not_equal(v: Version, c: _Constraint) -> bool:
    if c.dirty:
        if c.con.major != v.major:
            return True
        if c.minor_dirty:
            return False
        if c.con.minor != v.minor:
            return True
        if c.patch_dirty:
            if v.prerelease or c.con.prerelease:
                return _compare_prerelease(v.prerelease, c.con.prerelease) != 0
            return False
    return compare(v, c.con) != 0


def _greater(v: Version, c: _Constraint) -> bool:
    if not c.dirty:
        return compare(v, c.con) > 0
    if v.major != c.con.major:
        return v.major > c.con.major
    if c.minor_dirty:
        return False  # >1 (1.x) needs 2.0.0 or more
    if c.patch_dirty:
        return v.minor > c.con.minor  # >1.2 (1.2.x) needs 1.3.0 or more
    return compare(v, c.con) > 0


def _less(v: Version, c: _Constraint) -> bool:
    return compare(v, c.con) < 0


def _greater_equal(v: Version, c: _Constraint) -> bool:
    return compare(v, c.con) >= 0


def _less_equal(v: Version, c: _Constraint) -> bool:
    if not c.dirty:
        return compare(v, c.con) <= 0
    if v.major > c.con.major:
        return False
    if v.major == c.con.major and v.minor > c.con.minor and not c.minor_dirty:
        return False
    return True


def _tilde(v: Version, c: _Constraint) -> bool:
    if compare(v, c.con) < 0:
        return False
    con = c.con
    if con.major == 0 and con.minor == 0 and con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
        return True  # ~0.0.0 / ~* accept anything
    if v.major != con.major:
        return False
    if v.minor != con.minor and not c.minor_dirty:
        return False
    return True


def _caret(v: Version, c: _Constraint) -> bool:
    con = c.con
    if compare(v, con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_OP_FUNCS = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": _less,
    ">=": _greater_equal,
    "=>": _greater_equal,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


@dataclass(frozen=True)
class Constraints:
    """OR of AND groups of single constraints."""

    groups: tuple[tuple[_Constraint, ...], ...]
    text: str = ""

    def check(self, v: Version) -> bool:
        for group in self.groups:
            include_pre = any(c.con.prerelease for c in group)
            if all(c.check(v, include_pre) for c in group):
                return True
        return False

    def __str__(self) -> str:
        return " || ".join(" ".join(str(c) for c in g) for g in self.groups)


def _rewrite_ranges(text: str) -> str:
    return _RANGE_RE.sub(lambda m: f">= {m.group('lo')}, <= {m.group('hi')} ", text)


def parse_constraint(text: str) -> Constraints:
    """Parse a Masterminds v3 constraint; raise InvalidConstraint naming the bad part."""
    rewritten = _rewrite_ranges(text)
    groups = []
    for segment in rewritten.split("||"):
        if not _VALID_RE.fullmatch(segment):
            raise InvalidConstraint(f"improper constraint: {segment.strip()!r} in {text!r}")
        groups.append(tuple(_parse_one(s) for s in _FIND_RE.findall(segment)))
    return Constraints(tuple(groups), text)
