"""Pure git selection for Warehouse git subscriptions: Kargo's path selectors (base dir,
doublestar glob, regex), include/exclude rule, branch commit selection and tag strategies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.discovery.git_selection import (
    BranchCommit,
    Tag,
    base_dir_matches,
    check_branch_name,
    commit_entry,
    commit_filter,
    compile_glob,
    order_tags,
    path_filter,
    rfc3339,
    select_branch_commits,
    shorten,
    since_timestamp,
    tag_entry,
    tag_rules,
)

# --- doublestar globs: (pattern, path, matches) --------------------------------------------
GLOBS = [
    ("", "", True),
    ("*", "", True),  # * matches the empty string
    ("*", "/", False),  # ... but never a separator
    ("/*", "/", True),
    ("/*", "/debug/", False),
    ("abc", "abc", True),
    ("*c", "abc", True),
    ("a*", "ab/c", False),  # * stays in one component
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a?b", "a/b", False),  # ? never matches /
    ("a?b", "a☺b", True),  # ? is one character, not one byte
    ("ab[b-d]", "abc", True),  # range
    ("ab[^b-d]", "abc", False),  # negated with ^
    ("a[!a]b", "a☺b", True),  # negated with !
    ("[a-b-d]", "-", True),  # a dash after a range is literal
    ("[a-b-d]", "c", False),
    ("[x-]", "-", True),  # trailing dash is literal
    ("[-x]", "-", True),  # leading dash is literal
    ("[\\]a]", "]", True),  # escaped ] in a class
    ("[x\\-]", "z", False),
    ("**", "", True),
    ("**", "a/b/c", True),
    ("a/**", "a", True),  # /** at the end also matches the directory itself
    ("a/**", "a/", True),
    ("a/**", "a/b/c", True),
    ("a/**/", "a", True),
    ("**/c", "c", True),  # **/ at the start: zero or more directories
    ("**/c", "a/b/c", True),
    ("**/c", "a/abc", False),
    ("**/c", "abcd", False),
    ("a/**/b", "a/b", True),  # /**/ in the middle: zero or more directories
    ("a/**/d", "a/b/c/d", True),
    ("abc**", "abc/b", False),  # ** not a whole component acts as *
    ("a/\\**", "a/b/c", False),  # escaped *
    ("a/b/c", "a/b//c", False),
    ("a/", "a", False),
    ("ab{c,d}", "abc", True),  # alternatives
    ("ab{c,d,*}", "abcde", True),
    ("a{,bc}", "a", True),  # empty alternative
    ("a/{b/c,c/b}", "a/c/b", True),  # alternatives may span components
    ("{a/{b,c},abc}", "a/c", True),  # nested alternatives
    ("{a/{b,c},abc}", "a/b/c", False),
    ("**/*.txt", "abc/【test】.txt", True),
    ("**/{a,b}", "a/b", True),
    ("apps/*/values.yaml", "apps/web/values.yaml", True),
    ("apps/*/values.yaml", "apps/web/x/values.yaml", False),
    ("apps/**/*.yaml", "apps/web/x/values.yaml", True),
    ("e/[\\*\\?]?", "e/**", True),
]


@pytest.mark.parametrize("pattern,path,expected", GLOBS)
def test_glob(pattern: str, path: str, expected: bool) -> None:
    assert (compile_glob(pattern).fullmatch(path) is not None) is expected


@pytest.mark.parametrize("pattern", ["[]a]", "\\", "[", "[^", "[^bc", "a[", "ab{c,d}[", "e/[", "{a,b", "[b-a]"])
def test_bad_glob(pattern: str) -> None:
    with pytest.raises(ValueError, match="invalid glob pattern"):
        compile_glob(pattern)


# --- base directories (Kargo's plain selector: filepath.Rel without "..") ------------------
BASE_DIRS = [
    ("apps", "apps/web/values.yaml", True),
    ("apps", "apps", True),
    ("apps/", "apps/x", True),
    ("./apps", "apps/x", True),
    ("apps", "apps2/x", False),  # a whole path component, not a string prefix
    ("apps", "other/apps/x", False),
    ("apps/web", "apps/worker/x", False),
    ("apps/../base", "base/x", True),  # cleaned lexically
    ("", "anything/at/all", True),
    (".", "x", True),
    ("/apps", "apps/x", False),  # absolute vs relative never match
    ("apps", "apps/b..c", False),  # Kargo's check is "no .. in the relative path"
]


@pytest.mark.parametrize("base,path,expected", BASE_DIRS)
def test_base_dir(base: str, path: str, expected: bool) -> None:
    assert base_dir_matches(base, path) is expected


# --- include/exclude -------------------------------------------------------------------------


def test_path_filter_inactive_without_selectors() -> None:
    assert not path_filter().active
    assert path_filter(["a"]).active and path_filter([], ["a"]).active


def test_include_any_path() -> None:
    f = path_filter(["apps/web"])
    assert f.matches(["README.md", "apps/web/values.yaml"])
    assert not f.matches(["README.md", "apps/api/values.yaml"])


def test_exclude_needs_every_path_excluded() -> None:
    f = path_filter([], ["docs", "glob:**/*.md"])
    assert not f.matches(["docs/a.txt", "README.md"])
    assert f.matches(["docs/a.txt", "src/main.py"])


def test_include_and_exclude_per_path() -> None:
    # a path must be included AND not excluded; one such path is enough
    f = path_filter(["apps"], ["regex:\\.md$"])
    assert not f.matches(["apps/README.md", "base/x.yaml"])
    assert f.matches(["apps/README.md", "apps/web/x.yaml"])


def test_no_changed_paths_never_match() -> None:
    assert not path_filter(["apps"]).matches([])
    assert not path_filter([], ["docs"]).matches([])


def test_selector_kinds() -> None:
    assert path_filter(["glob:apps/*/values.yaml"]).matches(["apps/web/values.yaml"])
    assert path_filter(["regex:^apps/.*/values\\.yaml$"]).matches(["apps/web/values.yaml"])
    assert path_filter(["regexp:values"]).matches(["apps/web/values.yaml"])  # regex search, unanchored
    assert not path_filter(["glob:values.yaml"]).matches(["apps/web/values.yaml"])  # glob is anchored


def test_bad_selectors_name_the_field() -> None:
    with pytest.raises(ValueError, match="includePaths.*invalid glob"):
        path_filter(["glob:a["])
    with pytest.raises(ValueError, match="invalid regular expression.*excludePaths"):
        path_filter([], ["regex:("])


# --- branch commits --------------------------------------------------------------------------

T0 = 1_700_000_000


def history(n: int) -> list[tuple[BranchCommit, list[str]]]:
    """n commits newest first; commit i touches apps/<i % 3>/f."""
    return [
        (BranchCommit(f"c{i}", T0 - i * 60, "A <a@x>", "C <c@x>", f"change {i}"), [f"apps/{i % 3}/f"])
        for i in range(n)
    ]


def test_newest_first_up_to_limit() -> None:
    got = select_branch_commits(history(50), limit=20)
    assert [c.id for c in got] == [f"c{i}" for i in range(20)]


def test_path_filters_select_matching_commits() -> None:
    got = select_branch_commits(history(30), limit=5, paths=path_filter(["apps/1"]))
    assert [c.id for c in got] == ["c1", "c4", "c7", "c10", "c13"]
    got = select_branch_commits(history(9), limit=20, paths=path_filter([], ["apps/0", "apps/1"]))
    assert [c.id for c in got] == ["c2", "c5", "c8"]


def test_reads_lazily_and_stops_at_limit() -> None:
    seen = []

    def stream() -> Iterator[tuple[BranchCommit, list[str]]]:
        for entry in history(1000):
            seen.append(entry[0].id)
            yield entry

    select_branch_commits(stream(), limit=3)
    assert len(seen) == 3


def test_since_stops_history() -> None:
    got = select_branch_commits(history(50), limit=20, since=T0 - 5 * 60)
    assert [c.id for c in got] == ["c0", "c1", "c2", "c3", "c4", "c5"]


def test_expression_filter_on_commits() -> None:
    f = commit_filter('subject endsWith "7" || id == "c2"')
    assert f is not None
    got = select_branch_commits(history(30), limit=20, expression=f)
    assert [c.id for c in got] == ["c2", "c7", "c17", "c27"]
    assert commit_filter("") is None


def test_expression_filter_errors() -> None:
    with pytest.raises(ValueError, match="invalid expressionFilter"):
        commit_filter("subject ==")
    f = commit_filter("subject")
    assert f is not None
    with pytest.raises(ValueError, match="must give a boolean"):
        f({"subject": "not a bool"})
    g = commit_filter('"true"')
    assert g is not None and g({}) is True  # ParseBool rules, like Kargo


def test_commit_entry_shape() -> None:
    c = BranchCommit("abc", T0, "A <a@x>", "C <c@x>", "x" * 100)
    entry = commit_entry(c, "main")
    assert entry == {
        "id": "abc",
        "branch": "main",
        "subject": "x" * 77 + "...",
        "author": "A <a@x>",
        "committer": "C <c@x>",
        "creatorDate": "2023-11-14T22:13:20Z",
    }


def test_small_helpers() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert shorten("short") == "short"
    assert since_timestamp(None) is None
    assert since_timestamp(datetime(2024, 1, 1)) == since_timestamp(datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert since_timestamp(datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == 1704067200


@pytest.mark.parametrize("name", ["main", "release/1.x", "feature/a_b-c", "v1.2"])
def test_valid_branch_names(name: str) -> None:
    assert check_branch_name(name) == name


@pytest.mark.parametrize("name", ["-x", "a..b", "a//b", "a.lock", "x/", "a b", "a~1", "", "a/.b"])
def test_invalid_branch_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid branch name"):
        check_branch_name(name)


# --- tags ------------------------------------------------------------------------------------


def tag(name: str, created: int = T0, commit: str | None = None) -> Tag:
    return Tag(name, commit or f"sha-{name}", created, f"subject {name}", "A <a@x>", "C <c@x>")


TAGS = [
    tag("v1.0.0", T0 - 500),
    tag("v1.2.0", T0 - 400),
    tag("1.2.0", T0 - 390),  # same version as v1.2.0
    tag("v1.10.0", T0 - 300),
    tag("v2.0.0-rc.1", T0 - 200),
    tag("v1.3", T0 - 150),  # not strict
    tag("latest", T0 - 100),
    tag("zeta", T0 - 50),
]


def names(tags: list[Tag]) -> list[str]:
    return [t.name for t in tags]


def test_semver_order_and_ties() -> None:
    got = order_tags(TAGS, tag_rules("SemVer"))
    assert names(got) == ["v2.0.0-rc.1", "v1.10.0", "v1.2.0", "1.2.0", "v1.0.0"]


def test_semver_loose_and_constraint() -> None:
    got = order_tags(TAGS, tag_rules("SemVer", strict_semvers=False))
    assert "v1.3" in names(got)
    got = order_tags(TAGS, tag_rules("SemVer", semver_constraint="^1.2", strict_semvers=False))
    assert names(got) == ["v1.10.0", "v1.3", "v1.2.0", "1.2.0"]  # no prerelease, no 2.x, no 1.0


def test_lexical_and_newest_tag() -> None:
    assert names(order_tags(TAGS, tag_rules("Lexical")))[:3] == ["zeta", "v2.0.0-rc.1", "v1.3"]
    assert names(order_tags(TAGS, tag_rules("NewestTag")))[:3] == ["zeta", "latest", "v1.3"]


def test_newest_tag_ties_keep_name_order() -> None:
    same = [tag("b", T0), tag("a", T0), tag("c", T0 - 1)]
    assert names(order_tags(same, tag_rules("NewestTag"))) == ["a", "b", "c"]


def test_tag_regexes() -> None:
    rules = tag_rules("Lexical", allow_regexes=["^v1\\."], ignore_regexes=["\\.10\\."])
    assert names(order_tags(TAGS, rules)) == ["v1.3", "v1.2.0", "v1.0.0"]
    # several allow regexes: any one is enough; regexes search, they are not anchored
    rules = tag_rules("NewestTag", allow_regexes=["eta", "^latest$"])
    assert names(order_tags(TAGS, rules)) == ["zeta", "latest"]


def test_deprecated_allow_and_ignore_tags() -> None:
    rules = tag_rules("Lexical", allow_tags="^v", ignore_tags=["v1.3", "v1."])
    # ignoreTags are exact names: "v1." must not drop v1.0.0
    assert names(order_tags(TAGS, rules)) == ["v2.0.0-rc.1", "v1.2.0", "v1.10.0", "v1.0.0"]


def test_tag_expression_and_since() -> None:
    f = commit_filter('tag startsWith "v1"')
    assert names(order_tags(TAGS, tag_rules("NewestTag"), expression=f)) == ["v1.3", "v1.10.0", "v1.2.0", "v1.0.0"]
    assert names(order_tags(TAGS, tag_rules("NewestTag"), since=T0 - 100)) == ["zeta", "latest"]


def test_tag_rule_errors() -> None:
    with pytest.raises(ValueError, match="invalid semverConstraint"):
        tag_rules("SemVer", semver_constraint="not a constraint")
    with pytest.raises(ValueError, match="invalid regular expression.*allowTagsRegexes"):
        tag_rules("SemVer", allow_regexes=["("])
    with pytest.raises(ValueError, match="ignoreTagsRegexes"):
        tag_rules("Lexical", ignore_regexes=["[z-a]"])
    with pytest.raises(ValueError, match="allowTags"):
        tag_rules("Lexical", allow_tags="(")
    with pytest.raises(ValueError, match="not a tag selection strategy"):
        tag_rules("NewestFromBranch")  # type: ignore[arg-type]


def test_constraint_only_used_by_semver() -> None:
    rules = tag_rules("Lexical", semver_constraint="^1.0.0")
    assert names(order_tags(TAGS, rules))[0] == "zeta"


def test_tag_entry_shape() -> None:
    t = Tag("v1", "sha", T0, "subj", "A <a@x>", "C <c@x>", "T <t@x>", "release")
    assert tag_entry(t) == {
        "id": "sha",
        "tag": "v1",
        "subject": "subj",
        "author": "A <a@x>",
        "committer": "C <c@x>",
        "creatorDate": "2023-11-14T22:13:20Z",
    }
    assert t.env()["annotation"] == "release" and t.env()["tagger"] == "T <t@x>"
