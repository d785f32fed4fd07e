"""Every user- or repository-supplied regular expression is Go's (RE2 syntax, linear time):
expressions' `matches`, tag filters, path filters and globs, stage selectors, credential URL
regexes and .helmignore (pipeline/goregex.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from activities import credentials
from activities.steps._helm_package import helmignore_rules, ignored
from pipeline.auto_promotion import auto_promotion_enabled
from pipeline.discovery.git_selection import compile_glob, path_filter, tag_rules
from pipeline.discovery.selection import filter_tags, select_image_tags
from pipeline.expressions import evaluate
from pipeline.expressions.errors import ExpressionError
from pipeline.goregex import GoRegexError, compile_go
from pipeline.manifests.models import ProjectConfig, Stage, StageSelector

EVIL = "^(a|a)*$"
SUBJECT = "a" * 26 + "!"
REFUSED = [
    ("(a)\\1", "backreference `\\1`"),
    ("a(?=b)", "lookahead `(?=`"),
    ("a(?!b)", "negative lookahead `(?!`"),
    ("(?<=a)b", "lookbehind `(?<=`"),
    ("(?<!a)b", "negative lookbehind `(?<!`"),
    ("(?>a)", "atomic group"),
    ("a++", "possessive"),
    ("a\\Z", "Go's end of text is `\\z`"),
    ("a\\C", "`\\C` is not supported"),
]


def fast(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    assert time.perf_counter() - started < 0.5  # RE2 answers in microseconds; Python's re took seconds
    return result


@pytest.mark.parametrize("pattern,said", REFUSED)
def test_go_refuses_what_go_refuses(pattern: str, said: str) -> None:
    with pytest.raises(GoRegexError) as e:
        compile_go(pattern)
    assert repr(pattern) in str(e.value) and said in str(e.value)
    assert isinstance(e.value, ValueError)


def test_go_semantics() -> None:
    assert compile_go("a.c").search("a\nc") is None  # . is not \n without (?s)
    assert compile_go("(?s)a.c").search("a\nc")
    assert compile_go("a$").search("a\n") is None  # $ is end of text without (?m)
    assert compile_go("(?m)a$").search("a\nb")
    assert compile_go("b\\z").search("ab")
    assert compile_go("\\d").search("\u0663") is None  # \d is ASCII
    assert compile_go("(?P<v>\\d+)\\.(?<w>\\d+)").search("v1.22").group("w") == "22"
    assert compile_go("(?i)É").search("é")  # UTF-8, Unicode case folding
    assert compile_go("\\Q(a)\\C\\E").search("x(a)\\Cy")  # \Q...\E is literal, \C included


def test_matches_in_expressions() -> None:
    assert fast(evaluate, f'"{SUBJECT}" matches "{EVIL}"', {}) is False
    assert fast(evaluate, 'repeat("a", 26) + "!" matches "^(a|a)*$"', {}) is False
    assert evaluate('"aaa" matches "^(a|a)*$"', {}) is True
    for pattern, said in REFUSED[:5]:
        with pytest.raises(ExpressionError, match="not supported"):
            escaped = pattern.replace("\\", "\\\\")
            evaluate(f"\"x\" matches '{escaped}'", {})


def test_tag_filters() -> None:
    tags = [SUBJECT, "aaaa", "1.0.0"]
    assert fast(filter_tags, tags, allow_regexes=[EVIL]) == ["aaaa"]
    assert fast(filter_tags, tags, ignore_regexes=[EVIL]) == [SUBJECT, "1.0.0"]
    assert select_image_tags(tags, strategy="Lexical", allow_regexes=[EVIL]) == ["aaaa"]
    rules = fast(tag_rules, "Lexical", allow_regexes=[EVIL])
    assert not fast(rules.admits, SUBJECT) and rules.admits("aaaa")
    # the deprecated ignoreTags are exact names, whatever they contain
    rules = tag_rules("Lexical", ignore_tags=["v1.0+build", "a|b"])
    assert not rules.admits("v1.0+build") and rules.admits("v1x0+build") and not rules.admits("a|b") and rules.admits("a")
    for pattern, said in REFUSED:
        with pytest.raises(ValueError, match=f"invalid regular expression .* in allowTagsRegexes: .*{re.escape(said)}"):
            filter_tags(tags, allow_regexes=[pattern])
        with pytest.raises(ValueError, match="invalid regular expression .* in ignoreTagsRegexes"):
            tag_rules("Lexical", ignore_regexes=[pattern])


def test_path_filters_and_globs() -> None:
    f = path_filter([f"regex:{EVIL}"])
    assert not fast(f.matches, [SUBJECT]) and f.matches(["aa"])
    with pytest.raises(ValueError, match="includePaths.*lookahead"):
        path_filter(["regex:a(?=b)"])
    # nested alternatives cannot backtrack either
    glob = compile_glob("{a,a}" * 30 + "b")
    assert fast(glob.fullmatch, "a" * 40) is None and glob.fullmatch("a" * 30 + "b")
    # classes never match "/", even when they name it or a range spans it
    assert compile_glob("x[/]y").fullmatch("x/y") is None
    assert compile_glob("x[!a]y").fullmatch("x/y") is None
    assert compile_glob("x[+-0]y").fullmatch("x/y") is None
    assert compile_glob("x[+-0]y").fullmatch("x.y") and compile_glob("x[+-0]y").fullmatch("x0y")
    assert compile_glob("x[a-c]y").fullmatch("xby") and compile_glob("**/*.yaml").fullmatch("a/b\nc.yaml")


def project_config(name: str) -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "ProjectConfig",
            "metadata": {"name": "p", "namespace": "p"},
            "spec": {"promotionPolicies": [{"stageSelector": {"name": name}, "autoPromotionEnabled": True}]},
        }
    )


def stage(name: str) -> Stage:
    return Stage.model_validate(
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": name, "namespace": "p"},
            "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": True}}]},
        }
    )


def test_stage_selectors() -> None:
    config = project_config(f"regex:{EVIL}")
    assert not fast(auto_promotion_enabled, config, stage(SUBJECT.replace("!", "x")[:26] + "-b"))
    assert auto_promotion_enabled(config, stage("aaaa"))
    assert auto_promotion_enabled(project_config("regex:^(dev|uat)-.*"), stage("uat-1"))
    for pattern, said in REFUSED:
        with pytest.raises(ValidationError, match="invalid regular expression"):
            StageSelector(name=f"regex:{pattern}")
    assert StageSelector(name="glob:(?=x)").name == "glob:(?=x)"  # only regex: names are regexes


def test_credential_url_regex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(__import__("os").environ):
        if var.startswith("GANTRY_") and "CREDENTIALS" in var:
            monkeypatch.delenv(var)
    f = tmp_path / "creds.yaml"
    f.write_text("credentials:\n- urlRegex: '^https://git\\.corp/(a|a)*$'\n  username: u\n  password: p\n")
    monkeypatch.setenv("GANTRY_CREDENTIALS_FILE", str(f))
    assert fast(credentials.lookup, "https://git.corp/" + SUBJECT) is None
    assert credentials.lookup("https://git.corp/aaa").username == "u"
    f.write_text("credentials:\n- urlRegex: '^https://(?!evil)'\n  username: u\n  password: p\n")
    with pytest.raises(credentials.CredentialsError, match="bad urlRegex.*negative lookahead"):
        credentials.lookup("https://git.corp/x")


def test_helmignore_globs_are_linear() -> None:
    rules = helmignore_rules("*a*a*a*a*a*a*a*a*a*a*a*a*b\n")
    assert not fast(ignored, rules, "a" * 60, False)
    assert ignored(rules, "xaaaaaaaaaaaab", False)
    assert ignored(helmignore_rules("[^x]y\n"), "zy", False) and not ignored(helmignore_rules("[^x]y\n"), "xy", False)
