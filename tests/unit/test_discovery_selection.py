"""The pure discovery rules: tag filters (with Kargo's deprecated fields), chart version
selection, platforms, build times and NewestBuild order."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.discovery.images import (
    DiscoveredImage,
    Platform,
    build_time,
    created_from,
    known_platform_entries,
    newest_builds,
    parse_platform,
    parse_rfc3339,
    platform_entry,
    rfc3339,
)
from pipeline.discovery.selection import (
    deprecated_tag_filters,
    filter_tags,
    helm_oci_tag_version,
    select_chart_versions,
    select_image_tags,
)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


# --- tag filters ---------------------------------------------------------------------------


def test_filter_tags_keeps_order_and_drops_duplicates() -> None:
    tags = ["b", "a", "b", "c1", "c2"]
    assert filter_tags(tags) == ["b", "a", "c1", "c2"]
    assert filter_tags(tags, allow_regexes=["^c", "^a$"]) == ["a", "c1", "c2"]
    assert filter_tags(tags, ignore_regexes=["2"]) == ["b", "a", "c1"]
    assert filter_tags(tags, allow_regexes=["c"], ignore_regexes=["1"]) == ["c2"]


def test_filter_tags_searches_unanchored() -> None:
    assert filter_tags(["v1-alpine", "v1"], allow_regexes=["alpine"]) == ["v1-alpine"]


def test_deprecated_fields_become_regexes() -> None:
    allow, ignore = deprecated_tag_filters(r"^1\.", ["1.0.0", "a.b"])
    tags = ["1.0.0", "1.0.0-rc", "1.1.0", "2.0.0", "a.b", "axb"]
    assert filter_tags(tags, allow_regexes=allow) == ["1.0.0", "1.0.0-rc", "1.1.0"]
    # ignoreTags are exact tags: neither prefixes nor regex metacharacters
    assert filter_tags(tags, ignore_regexes=ignore) == ["1.0.0-rc", "1.1.0", "2.0.0", "axb"]
    assert deprecated_tag_filters(None, None) == ([], [])
    assert deprecated_tag_filters("", []) == ([], [])


def test_deprecated_allow_tags_bad_regex_is_named() -> None:
    with pytest.raises(ValueError, match="allowTags"):
        deprecated_tag_filters("([", [])


def test_select_image_tags_still_applies_limit_after_filtering() -> None:
    tags = [f"1.0.{i}" for i in range(30)]
    assert select_image_tags(tags, limit=2, ignore_regexes=[r"\.29$"]) == ["1.0.28", "1.0.27"]
    assert len(select_image_tags(tags, limit=len(tags))) == 30


# --- chart versions -------------------------------------------------------------------------


def test_chart_versions_loose_newest_first() -> None:
    versions = ["1.0.0", "v1.0.0", "1.2", "junk", "2.0.0-beta.1", "0.1.0+build.7", "1.0.0"]
    assert select_chart_versions(versions) == ["2.0.0-beta.1", "1.2", "v1.0.0", "1.0.0", "0.1.0+build.7"]


def test_chart_versions_strict_for_oci_tags() -> None:
    tags = ["1.0.0", "1.2", "v2.0.0", "1.0.1_build.5", "latest"]
    versions = [helm_oci_tag_version(t) for t in tags]
    assert versions[3] == "1.0.1+build.5"
    assert select_chart_versions(versions, strict=True) == ["1.0.1+build.5", "1.0.0"]


def test_chart_versions_constraint_and_limit() -> None:
    versions = ["0.9.0", "1.0.0", "1.1.0", "1.5.3", "2.0.0", "2.1.0-rc.1"]
    assert select_chart_versions(versions, constraint="^1") == ["1.5.3", "1.1.0", "1.0.0"]
    assert select_chart_versions(versions, constraint="^1", limit=1) == ["1.5.3"]
    assert select_chart_versions(versions, constraint="<1 || >=2.1.0-0") == ["2.1.0-rc.1", "0.9.0"]
    assert select_chart_versions([]) == []


@pytest.mark.parametrize(("kw", "says"), [({"constraint": "^^1"}, "^^1"), ({"limit": 0}, "limit")])
def test_chart_versions_bad_input(kw: dict, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        select_chart_versions(["1.0.0"], **kw)


# --- platforms ------------------------------------------------------------------------------


def test_parse_platform() -> None:
    assert parse_platform("linux/amd64") == Platform("linux", "amd64")
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert str(parse_platform("linux/arm/v7")) == "linux/arm/v7"
    for bad in ("linux", "", "linux/", "/amd64", "linux//v8"):
        with pytest.raises(ValueError, match="platform"):
            parse_platform(bad)


def test_platform_matches_variant_exactly() -> None:
    arm = Platform("linux", "arm64", "v8")
    assert arm.matches({"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert not arm.matches({"os": "linux", "architecture": "arm64"})
    assert Platform("linux", "arm64").matches({"os": "linux", "architecture": "arm64", "variant": ""})
    assert not Platform("linux", "arm64").matches({"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert not Platform("linux", "amd64").matches(None)


def test_platform_entry_skips_unknown_platforms() -> None:
    entries = [
        {"digest": "att", "platform": {"os": "unknown", "architecture": "unknown"}},
        {"digest": "none"},
        {"digest": "amd", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "amd2", "platform": {"os": "linux", "architecture": "amd64"}},
    ]
    assert [e["digest"] for e in known_platform_entries(entries)] == ["amd", "amd2"]
    assert platform_entry(entries, Platform("linux", "amd64"))["digest"] == "amd"
    assert platform_entry(entries, Platform("unknown", "unknown")) is None


# --- build times ---------------------------------------------------------------------------


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_rfc3339("2024-01-02T03:04:05.123456789Z") == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert parse_rfc3339("2024-01-02T05:04:05+02:00") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("2024-01-02T03:04:05", "2024-01-02", "yesterday", "", None, 1704164645):
        assert parse_rfc3339(bad) is None


def test_build_time_precedence() -> None:
    ann = {"org.opencontainers.image.created": "2024-01-05T00:00:00Z"}
    legacy = {"org.label-schema.build-date": "2024-01-07T00:00:00Z"}
    # the annotation wins outright, even over a later config time or label
    assert build_time(ann, legacy, "2024-01-09T00:00:00Z") == at(5)
    assert build_time(legacy) == at(7)  # the legacy key counts as an annotation too
    # otherwise the later of the config's created and its creation label
    assert build_time({}, legacy, "2024-01-03T00:00:00Z") == at(7)
    assert build_time({}, legacy, "2024-01-09T00:00:00Z") == at(9)
    assert build_time(None, None, "2024-01-02T00:00:00Z") == at(2)
    assert build_time({"org.opencontainers.image.created": "not a time"}, None, "2024-01-02T00:00:00Z") == at(2)
    assert build_time(None) is None
    assert created_from({"org.opencontainers.image.created": "bad", **legacy}) == at(7)


def test_rfc3339_output_is_utc_seconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2024, 6, 1, 0, 0, 0, 999999, tzinfo=plus_two)) == "2024-05-31T22:00:00Z"


def test_discovered_image_dict_omits_unknowns() -> None:
    assert DiscoveredImage("1.0.0", "sha256:a").to_dict() == {"tag": "1.0.0", "digest": "sha256:a"}
    full = DiscoveredImage("1.0.0", "sha256:a", at(2, 3), {"k": "v"}).to_dict()
    assert full == {"tag": "1.0.0", "digest": "sha256:a", "annotations": {"k": "v"}, "createdAt": "2024-01-02T03:00:00Z"}


# --- NewestBuild -----------------------------------------------------------------------------


def test_newest_builds_order() -> None:
    images = [
        DiscoveredImage("old", "d1", at(1)),
        DiscoveredImage("undated-a", "d2"),
        DiscoveredImage("tie-a", "d3", at(5)),
        DiscoveredImage("new", "d4", at(9)),
        DiscoveredImage("tie-b", "d5", at(5)),
        DiscoveredImage("undated-b", "d6"),
    ]
    got = [i.tag for i in newest_builds(images, 10)]
    assert got == ["new", "tie-b", "tie-a", "old", "undated-b", "undated-a"]
    assert [i.tag for i in newest_builds(images, 2)] == ["new", "tie-b"]
    assert newest_builds([], 5) == []


def test_newest_builds_compares_instants_across_zones() -> None:
    plus_two = timezone(timedelta(hours=2))
    late_local = DiscoveredImage("a", "d1", datetime(2024, 1, 1, 1, tzinfo=plus_two))  # 23:00 UTC the day before
    early_utc = DiscoveredImage("b", "d2", datetime(2024, 1, 1, 0, tzinfo=UTC))
    assert [i.tag for i in newest_builds([late_local, early_utc], 5)] == ["b", "a"]


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_newest_builds_bad_limit(limit) -> None:
    with pytest.raises(ValueError, match="limit"):
        newest_builds([], limit)
