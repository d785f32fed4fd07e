"""Image tag selection as Kargo's image subscriptions do it (pure: no I/O, no clock).

* ``SemVer``: keep tags that parse as semantic versions (``strict_semvers`` needs a full
  MAJOR.MINOR.PATCH) and satisfy ``constraint`` (when given), newest version first; equal
  versions (e.g. ``v1.0.0`` and ``1.0.0``) are ordered by tag, reverse lexically.
* ``Lexical``: keep tags in reverse lexical order.

Both apply ``allow_regexes`` (a tag must match at least one when any are given) and
``ignore_regexes`` (a tag matching any is dropped) first, with search (unanchored)
semantics like Go's ``MatchString``, and return at most ``limit`` tags.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

from pipeline.discovery.semver import InvalidConstraint, Version, compare, parse_constraint, try_parse_version

__all__ = ["select_image_tags"]

Strategy = Literal["SemVer", "Lexical"]


def _compile(patterns: list[str], field: str) -> list[re.Pattern[str]]:
    compiled = []
    for p in patterns:
        try:
            compiled.append(re.compile(p))
        except re.error as e:
            raise ValueError(f"invalid regular expression {p!r} in {field}: {e}") from None
    return compiled


def select_image_tags(
    tags: list[str],
    *,
    strategy: Strategy = "SemVer",
    constraint: str | None = None,
    strict_semvers: bool = True,
    allow_regexes: list[str] | None = None,
    ignore_regexes: list[str] | None = None,
    limit: int = 20,
) -> list[str]:
    """The selected tags, newest first, at most ``limit`` of them."""
    if strategy not in ("SemVer", "Lexical"):
        raise ValueError(f"unsupported image selection strategy {strategy!r} (expected SemVer or Lexical)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    allow = _compile(allow_regexes or [], "allowTagsRegexes")
    ignore = _compile(ignore_regexes or [], "ignoreTagsRegexes")
    constraints = None
    if constraint:
        if strategy != "SemVer":
            raise ValueError(f"constraint {constraint!r} is only allowed with the SemVer strategy")
        try:
            constraints = parse_constraint(constraint)
        except InvalidConstraint as e:
            raise ValueError(f"invalid semver constraint {constraint!r}: {e}") from None

    candidates = [
        t
        for t in dict.fromkeys(tags)
        if (not allow or any(r.search(t) for r in allow)) and not any(r.search(t) for r in ignore)
    ]

    if strategy == "Lexical":
        return sorted(candidates, reverse=True)[:limit]

    parsed: list[tuple[Version, str]] = []
    for t in candidates:
        v = try_parse_version(t, strict=strict_semvers)
        if v is None or (constraints is not None and not constraints.check(v)):
            continue
        parsed.append((v, t))

    def newest_first(a: tuple[Version, str], b: tuple[Version, str]) -> int:
        d = compare(b[0], a[0])
        if d:
            return d
        return (a[1] < b[1]) - (a[1] > b[1])

    parsed.sort(key=functools.cmp_to_key(newest_first))
    return [t for _, t in parsed[:limit]]
