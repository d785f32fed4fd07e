"""Semantic versions, Masterminds/semver v3 constraints and Kargo-style image tag selection."""

from __future__ import annotations

import pytest

from pipeline.discovery.selection import select_image_tags
from pipeline.discovery.semver import (
    InvalidConstraint,
    InvalidVersion,
    compare,
    parse_constraint,
    parse_version,
)

# (constraint, version, expected) — each row names the Masterminds rule it exercises.
CASES = [
    ("=1.2.3", "1.2.3", True),  # = exact match
    ("1.2.3", "1.2.3", True),  # no operator means =
    ("1.2.3", "1.2.4", False),  # no operator, not equal
    ("=1.2.3", "1.2.3+build.5", True),  # build metadata ignored in equality
    ("=v1.2.3", "1.2.3", True),  # leading v in the constraint version
    ("!=1.2.3", "1.2.4", True),  # != different version
    ("!=1.2.3", "1.2.3", False),  # != same version
    ("!=1.2.x", "1.2.9", False),  # != wildcard excludes the whole 1.2 line
    ("!=1.2.x", "1.3.0", True),  # != wildcard, other minor
    ("!=1.x", "2.0.0", True),  # != major wildcard, other major
    (">1.2.3", "1.2.4", True),  # > strictly greater
    (">1.2.3", "1.2.3", False),  # > not equal
    (">1.2", "1.2.9", False),  # >1.2 means above the whole 1.2.x line
    (">1.2", "1.3.0", True),  # >1.2 next minor
    (">1", "1.9.9", False),  # >1 means above 1.x
    (">1", "2.0.0", True),  # >1 next major
    ("<1.2.3", "1.2.2", True),  # < strictly less
    ("<1.2.3", "1.2.3", False),  # < not equal
    ("<1.2", "1.1.99", True),  # <1.2 is <1.2.0
    ("<1.2", "1.2.0", False),  # <1.2 excludes 1.2.0
    (">=1.2.3", "1.2.3", True),  # >= equal
    (">=1.2.3", "1.2.2", False),  # >= less
    ("=>1.2.3", "1.3.0", True),  # => alias of >=
    ("<=1.2.3", "1.2.3", True),  # <= equal
    ("<=1.2.3", "1.2.4", False),  # <= greater
    ("<=1.2", "1.2.99", True),  # <=1.2 includes the 1.2.x line
    ("<=1.2", "1.3.0", False),  # <=1.2 excludes 1.3
    ("<=1", "1.99.0", True),  # <=1 includes the 1.x line
    ("=<1.2.3", "1.2.0", True),  # =< alias of <=
    ("~1.2.3", "1.2.9", True),  # ~1.2.3 is >=1.2.3 <1.3.0
    ("~1.2.3", "1.3.0", False),  # ~ does not cross the minor
    ("~1.2.3", "1.2.2", False),  # ~ lower bound
    ("~1", "1.9.0", True),  # ~1 is >=1.0.0 <2.0.0
    ("~1", "2.0.0", False),  # ~1 upper bound
    ("~>1.2", "1.2.5", True),  # ~> alias of ~
    ("~0.0.0", "5.0.0", True),  # ~0.0.0 accepts anything
    ("^1.2.3", "1.9.9", True),  # ^1.2.3 is >=1.2.3 <2.0.0
    ("^1.2.3", "2.0.0", False),  # ^ does not cross the major
    ("^1.2.3", "1.2.2", False),  # ^ lower bound
    ("^1.2", "1.2.0", True),  # ^1.2 is >=1.2.0 <2.0.0
    ("^0.2.3", "0.2.9", True),  # ^0.2.3 is >=0.2.3 <0.3.0
    ("^0.2.3", "0.3.0", False),  # ^0.y keeps the minor
    ("^0.0.3", "0.0.3", True),  # ^0.0.3 is =0.0.3
    ("^0.0.3", "0.0.4", False),  # ^0.0.z keeps the patch
    ("^0.0", "0.0.9", True),  # ^0.0 is >=0.0.0 <0.1.0
    ("^0", "0.9.0", True),  # ^0 is >=0.0.0 <1.0.0
    ("^0", "1.0.0", False),  # ^0 upper bound
    ("1.x", "1.9.0", True),  # x wildcard in minor
    ("1.x", "2.0.0", False),  # x wildcard keeps major
    ("1.2.*", "1.2.7", True),  # * wildcard in patch
    ("1.2.*", "1.3.0", False),  # * wildcard keeps minor
    ("1.2.X", "1.2.0", True),  # X wildcard
    ("*", "9.9.9", True),  # * any version
    ("*", "1.0.0-alpha", False),  # * still excludes prereleases
    ("1.2 - 1.4.5", "1.3.0", True),  # hyphen range inclusive, inside
    ("1.2 - 1.4.5", "1.4.5", True),  # hyphen range inclusive upper
    ("1.2 - 1.4.5", "1.4.6", False),  # hyphen range above
    ("1.2 - 1.4.5", "1.1.9", False),  # hyphen range below
    ("1.2.3 - 1.4", "1.4.9", True),  # hyphen range partial upper is <=1.4 (1.4.x)
    (">=1.0, <2.0", "1.5.0", True),  # comma is AND
    (">=1.0, <2.0", "2.0.0", False),  # comma is AND, upper fails
    (">=1.0 <2.0", "1.0.0", True),  # space is AND
    (">= 1.0 , < 2.0", "1.9.9", True),  # spaces around operators and commas
    ("<1.0 || >=3.0", "0.5.0", True),  # || is OR, first branch
    ("<1.0 || >=3.0", "3.1.0", True),  # || is OR, second branch
    ("<1.0 || >=3.0", "2.0.0", False),  # || is OR, neither branch
    (">=1.2.3", "1.3.0-beta", False),  # constraint without prerelease excludes prereleases
    ("<2.0.0", "1.0.0-rc.1", False),  # prerelease excluded even when lower
    (">=1.2.3-0", "1.3.0-beta", True),  # prerelease in the constraint includes prereleases
    (">=1.2.3-alpha", "1.2.3-beta", True),  # prerelease ordering: beta > alpha
    (">=1.2.3-beta.2", "1.2.3-beta.11", True),  # numeric prerelease ids compare numerically
    (">=1.2.3-beta, <1.2.3", "1.2.3-rc.1", True),  # prerelease in one AND member opts the group in
    (">=1.2.3-beta || >=2.0.0", "2.1.0-alpha", True),  # group 1 has a prerelease, version satisfies it
    (">=2.0.0 || >=1.2.3-beta", "2.1.0-alpha", True),  # opt-in is per OR group
    ("~1.2.3-beta", "1.2.3", True),  # release above a prerelease lower bound
    ("^1.2.3-beta.1", "1.2.3-beta.0", False),  # ^ lower bound with prereleases
    ("=1.2.3-beta", "1.2.3-beta", True),  # exact prerelease match
    ("!=1.2.3-beta", "1.2.3-alpha", True),  # != with prerelease
]


def test_table_has_enough_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize(("constraint", "version", "expected"), CASES)
def test_constraint_table(constraint, version, expected):
    assert parse_constraint(constraint).check(parse_version(version)) is expected


@pytest.mark.parametrize(
    "bad",
    ["", "   ", ">>1.2", "1.2.3.4", "abc", ">=1.0,, <2", "1.2 -", "=>", "||", "1.0 ||", "01.2.3"],
)
def test_invalid_constraints(bad):
    with pytest.raises(InvalidConstraint):
        parse_constraint(bad)


def test_constraint_string_form():
    assert str(parse_constraint("1.2 - 1.4.5")) == ">=1.2 <=1.4.5"
    assert str(parse_constraint(">=1.0,<2 || ~3.1")) == ">=1.0 <2 || ~3.1"


@pytest.mark.parametrize(
    ("text", "strict", "parts"),
    [
        ("1.2.3", True, (1, 2, 3, "", "")),
        ("v1.2.3", True, (1, 2, 3, "", "")),
        ("1.2.3-rc.1+build.7", True, (1, 2, 3, "rc.1", "build.7")),
        ("1.2.3-0a.x-y", True, (1, 2, 3, "0a.x-y", "")),
        ("1.2", False, (1, 2, 0, "", "")),
        ("v1", False, (1, 0, 0, "", "")),
        ("1.2-alpha", False, (1, 2, 0, "alpha", "")),
    ],
)
def test_parse_valid(text, strict, parts):
    v = parse_version(text, strict=strict)
    assert (v.major, v.minor, v.patch, v.prerelease, v.metadata) == parts
    assert v.original == text


@pytest.mark.parametrize(
    ("text", "strict"),
    [
        ("1.2", True),
        ("1", True),
        ("", False),
        ("latest", False),
        ("01.2.3", False),
        ("1.02.3", True),
        ("1.2.3-01", True),
        ("1.2.3-", True),
        ("1.2.3-a..b", True),
        ("1.2.3+", True),
        ("1.2.3.4", False),
        ("V1.2.3", False),
        ("vv1.2.3", False),
        ("1.2.3\n", False),
        ("18446744073709551616.0.0", False),
    ],
)
def test_parse_invalid(text, strict):
    with pytest.raises(InvalidVersion):
        parse_version(text, strict=strict)


def test_precedence_chain():
    # The SemVer 2.0.0 example chain, which Masterminds follows.
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    versions = [parse_version(s) for s in chain]
    for a, b in zip(versions, versions[1:]):
        assert compare(a, b) == -1 and compare(b, a) == 1 and a < b
    assert compare(parse_version("1.0.0+a"), parse_version("v1.0.0+b")) == 0


# --- selection ---------------------------------------------------------------------------

TAGS = ["latest", "1.0.0", "v1.2.0", "1.10.0", "1.2", "2.0.0-rc.1", "2.0.0", "0.9.1", "sha-abc123"]


def select(tags=TAGS, **kw):
    args = dict(
        strategy="SemVer",
        constraint=None,
        strict_semvers=True,
        allow_regexes=[],
        ignore_regexes=[],
        limit=20,
    )
    args.update(kw)
    return select_image_tags(tags, **args)


def test_semver_newest_first_strict():
    # Strict: "1.2" and non-versions are skipped; prereleases count when no constraint.
    assert select() == ["2.0.0", "2.0.0-rc.1", "1.10.0", "v1.2.0", "1.0.0", "0.9.1"]


def test_semver_loose_accepts_partial_versions():
    assert select(strict_semvers=False) == ["2.0.0", "2.0.0-rc.1", "1.10.0", "v1.2.0", "1.2", "1.0.0", "0.9.1"]


def test_semver_constraint_and_limit():
    assert select(constraint="^1.0") == ["1.10.0", "v1.2.0", "1.0.0"]
    assert select(constraint="^1.0", limit=2) == ["1.10.0", "v1.2.0"]
    assert select(constraint=">=2.0.0-0") == ["2.0.0", "2.0.0-rc.1"]
    assert select(constraint="<2") == ["1.10.0", "v1.2.0", "1.0.0", "0.9.1"]


def test_semver_allow_and_ignore():
    assert select(allow_regexes=[r"^v"]) == ["v1.2.0"]
    assert select(ignore_regexes=[r"rc", r"^0\."]) == ["2.0.0", "1.10.0", "v1.2.0", "1.0.0"]
    assert select(allow_regexes=[r"^1\.", r"^2\."], ignore_regexes=["10"]) == ["2.0.0", "2.0.0-rc.1", "1.0.0"]


def test_lexical_reverse_order():
    assert select(strategy="Lexical") == [
        "v1.2.0", "sha-abc123", "latest", "2.0.0-rc.1", "2.0.0", "1.2", "1.10.0", "1.0.0", "0.9.1"
    ]
    assert select(strategy="Lexical", allow_regexes=["^sha-", "^latest$"], limit=1) == ["sha-abc123"]


def test_duplicate_tags_and_equal_versions():
    assert select(["1.0.0", "v1.0.0", "1.0.0", "1.0.0+b"]) == ["v1.0.0", "1.0.0+b", "1.0.0"]


def test_empty_input():
    assert select([]) == []
    assert select(["latest"]) == []


def test_bad_constraint_is_named():
    with pytest.raises(ValueError, match=r">>1"):
        select(constraint=">>1")


@pytest.mark.parametrize(("field", "name"), [("allow_regexes", "allowTagsRegexes"), ("ignore_regexes", "ignoreTagsRegexes")])
def test_bad_regex_is_named(field, name):
    with pytest.raises(ValueError, match=rf"\(\[a-.*{name}"):
        select(**{field: ["([a-"]})


def test_bad_limit_and_strategy():
    with pytest.raises(ValueError, match="limit"):
        select(limit=0)
    with pytest.raises(ValueError, match="strategy"):
        select(strategy="NewestBuild")
