"""Image tag selection as Kargo's image subscriptions do it (pure: no I/O, no clock).

* ``SemVer``: keep tags that parse as semantic versions (``strict_semvers`` needs a full
  MAJOR.MINOR.PATCH) and satisfy ``constraint`` (when given), newest version first; equal
  versions (e.g. ``v1.0.0`` and ``1.0.0``) are ordered by tag, reverse lexically.
* ``Lexical``: keep tags in reverse lexical order.

Both apply ``allow_regexes`` (a tag must match at least one when any are given) and
``ignore_regexes`` (a tag matching any is dropped) first, with search (unanchored)
semantics like Go's ``MatchString``, and return at most ``limit`` tags. NewestBuild and
Digest need the registry's answers; ``filter_tags`` is their tag filter.

Chart versions (``select_chart_versions``) follow Kargo's chart selectors: valid versions
only, ``semverConstraint`` applied, newest first, the tag strings as written. Helm stores
``+`` of a chart version as ``_`` in OCI tags (``helm_oci_tag_version`` maps back).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pipeline.discovery.semver import InvalidConstraint, Version, compare, parse_constraint, try_parse_version
from pipeline.goregex import GoRegexError, compile_go
from pipeline.goregex import escape as go_escape

__all__ = [
    "deprecated_tag_filters",
    "filter_tags",
    "helm_oci_tag_version",
    "select_chart_versions",
    "select_image_tags",
]

Strategy = Literal["SemVer", "Lexical"]


def _compile(patterns: list[str], field: str) -> list[Any]:
    """Go regexes (RE2 syntax, linear-time matching); a bad one is a ValueError naming it."""
    compiled = []
    for p in patterns:
        try:
            compiled.append(compile_go(p))
        except GoRegexError as e:
            raise ValueError(f"invalid regular expression {p!r} in {field}: {e.detail}") from None
    return compiled


def filter_tags(
    tags: list[str],
    *,
    allow_regexes: list[str] | None = None,
    ignore_regexes: list[str] | None = None,
) -> list[str]:
    """The tags the allow/ignore regexes keep, in input order, without duplicates."""
    allow = _compile(allow_regexes or [], "allowTagsRegexes")
    ignore = _compile(ignore_regexes or [], "ignoreTagsRegexes")
    return [
        t
        for t in dict.fromkeys(tags)
        if (not allow or any(r.search(t) for r in allow)) and not any(r.search(t) for r in ignore)
    ]


def deprecated_tag_filters(allow_tags: str | None, ignore_tags: list[str] | None) -> tuple[list[str], list[str]]:
    """Kargo's deprecated fields as regexes to add: ``allowTags`` is one more allow
    regex, each ``ignoreTags`` entry an exact tag to ignore."""
    allow = [allow_tags] if allow_tags else []
    _compile(allow, "allowTags")
    return allow, [f"^{go_escape(t)}$" for t in ignore_tags or []]


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")


def _newest_first(parsed: list[tuple[Version, str]]) -> list[str]:
    """Newest version first; equal versions by their strings, reverse lexically."""

    def order(a: tuple[Version, str], b: tuple[Version, str]) -> int:
        d = compare(b[0], a[0])
        if d:
            return d
        return (a[1] < b[1]) - (a[1] > b[1])

    return [t for _, t in sorted(parsed, key=functools.cmp_to_key(order))]


def _constraint(text: str | None):
    if not text:
        return None
    try:
        return parse_constraint(text)
    except InvalidConstraint as e:
        raise ValueError(f"invalid semver constraint {text!r}: {e}") from None


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
    _check_limit(limit)
    if constraint and strategy != "SemVer":
        raise ValueError(f"constraint {constraint!r} is only allowed with the SemVer strategy")
    candidates = filter_tags(tags, allow_regexes=allow_regexes, ignore_regexes=ignore_regexes)
    constraints = _constraint(constraint)

    if strategy == "Lexical":
        return sorted(candidates, reverse=True)[:limit]

    parsed: list[tuple[Version, str]] = []
    for t in candidates:
        v = try_parse_version(t, strict=strict_semvers)
        if v is None or (constraints is not None and not constraints.check(v)):
            continue
        parsed.append((v, t))
    return _newest_first(parsed)[:limit]


def helm_oci_tag_version(tag: str) -> str:
    """The chart version an OCI tag stands for (OCI tags cannot hold ``+``)."""
    return tag.replace("_", "+")


def select_chart_versions(
    versions: list[str],
    *,
    constraint: str | None = None,
    strict: bool = False,
    limit: int = 20,
) -> list[str]:
    """Valid versions that satisfy ``constraint``, newest first, at most ``limit``.
    ``strict`` as Kargo reads OCI tags (MAJOR.MINOR.PATCH, no leading ``v``); index.yaml
    versions are parsed loosely (``v1``, ``1.2`` count)."""
    _check_limit(limit)
    constraints = _constraint(constraint)
    parsed: list[tuple[Version, str]] = []
    for text in dict.fromkeys(versions):
        ok = isinstance(text, str) and not (strict and text.startswith("v"))
        v = try_parse_version(text, strict=strict) if ok else None
        if v is not None and (constraints is None or constraints.check(v)):
            parsed.append((v, text))
    return _newest_first(parsed)[:limit]
