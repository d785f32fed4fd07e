"""`discover_git` against real git repositories: local bare remotes built with
fast-import, and one real smart-HTTP server with basic auth for credentials.

Each test has its own work root (GANTRY_WORK_DIR), so the worker's mirror cache starts
cold; tests that discover twice exercise the warm path (fetch into the mirror).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.credentials import normalize_url  # noqa: E402
from activities.discovery.git import discover_git  # noqa: E402
from tests.githttp import GitHTTPServer  # noqa: E402
from tests.gitrepos import FastCommit, fast_import, git  # noqa: E402
from workflows.messages import DiscoveryRequest  # noqa: E402

pytestmark = pytest.mark.integration

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
USER, PASSWORD = "bot", "disc0very-Pa55"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "work"
    monkeypatch.setenv("GANTRY_WORK_DIR", str(root))
    for k in list(os.environ):
        if k.startswith("GANTRY_") and "CREDENTIALS" in k:
            monkeypatch.delenv(k)
    return root


def bare(tmp_path: Path, name: str = "repo.git", head: str = "main") -> Path:
    path = tmp_path / "remotes" / name
    git("init", "--quiet", "--bare", f"--initial-branch={head}", str(path))
    return path


def commits(n: int, start: int = 0, path: str = "app/f") -> list[FastCommit]:
    return [FastCommit(f"change {i}", T0 + i * 60, {path: f"{i}\n"}) for i in range(start, start + n)]


async def discover(sub: dict[str, Any]) -> dict[str, Any]:
    request = DiscoveryRequest(project="p", warehouse="w", kind="git", subscription=sub)
    return await ActivityEnvironment().run(discover_git, request)


async def failure(sub: dict[str, Any]) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await discover(sub)
    return info.value


def ids(result: dict[str, Any]) -> list[str]:
    return [c["id"] for c in result["commits"]]


def tags(result: dict[str, Any]) -> list[str]:
    return [c["tag"] for c in result["commits"]]


# --- NewestFromBranch ------------------------------------------------------------------------


async def test_newest_from_branch_defaults(work: Path, tmp_path: Path) -> None:
    repo = bare(tmp_path)
    made = fast_import(repo, commits(25))
    fast_import(repo, [FastCommit("elsewhere", T0 + 9999, {"x": "1"})], branch="other")
    result = await discover({"repoURL": repo.as_uri()})
    assert result["repoURL"] == repo.as_uri() and result["branch"] == "main"
    assert ids(result) == made[::-1][:20]  # newest first, default discoveryLimit 20
    first = result["commits"][0]
    assert first == {
        "id": made[-1],
        "branch": "main",
        "subject": "change 24",
        "author": "Test <test@example.com>",
        "committer": "Test <test@example.com>",
        "creatorDate": "2023-11-14T22:37:20Z",
    }
    key = hashlib.sha1(normalize_url(repo.as_uri()).encode()).hexdigest()
    assert (work / "discovery" / "git" / key / "repo.git" / "HEAD").is_file()  # the cached mirror


async def test_limit_branch_and_default_branch(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path, head="trunk")
    trunk = fast_import(repo, commits(5), branch="trunk")
    dev = fast_import(repo, commits(3, start=10), branch="dev")
    result = await discover({"repoURL": repo.as_uri(), "discoveryLimit": 2})
    assert result["branch"] == "trunk" and ids(result) == trunk[::-1][:2]
    result = await discover({"repoURL": repo.as_uri(), "branch": "dev"})
    assert ids(result) == dev[::-1] and {c["branch"] for c in result["commits"]} == {"dev"}
    # the remote's default branch changes: the next pass follows it
    git("symbolic-ref", "HEAD", "refs/heads/dev", cwd=repo)
    result = await discover({"repoURL": repo.as_uri()})
    assert result["branch"] == "dev" and ids(result) == dev[::-1]


async def test_first_parent_history(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    base = fast_import(repo, commits(2))
    side = fast_import(repo, [FastCommit("side work", T0 + 500, {"side/f": "1"})], branch="feature")
    merge = fast_import(repo, [FastCommit("merge feature", T0 + 600, {"side/f": "1"}, merge=(side[0],))])
    result = await discover({"repoURL": repo.as_uri()})
    assert ids(result) == [merge[0], base[1], base[0]]  # the side commit is not on the first-parent line
    # a merge's changed paths are its diff against the first parent
    result = await discover({"repoURL": repo.as_uri(), "includePaths": ["side"]})
    assert ids(result) == [merge[0]]


async def test_path_filters(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    layout = [
        ("docs", {"docs/readme.md": "1"}),
        ("web values", {"apps/web/values.yaml": "1"}),
        ("api values + docs", {"apps/api/values.yaml": "1", "docs/api.md": "1"}),
        ("web chart", {"apps/web/Chart.yaml": "1"}),
        ("root readme", {"README.md": "1"}),
        ("rename web", {"apps/web/values.yaml": None, "apps/web2/values.yaml": "1"}),
    ]
    made = fast_import(repo, [FastCommit(m, T0 + i, f) for i, (m, f) in enumerate(layout)])
    url = repo.as_uri()

    async def pick(**sub: Any) -> list[int]:
        return [made.index(i) for i in ids(await discover({"repoURL": url, **sub}))]

    assert await pick(includePaths=["apps/web"]) == [5, 3, 1]  # a deleted path counts
    assert await pick(includePaths=["glob:apps/*/values.yaml"]) == [5, 2, 1]
    assert await pick(includePaths=["regex:\\.md$"]) == [4, 2, 0]
    assert await pick(excludePaths=["docs", "glob:*.md"]) == [5, 3, 2, 1]  # api commit also changed values
    assert await pick(includePaths=["apps"], excludePaths=["regex:Chart\\.yaml$"]) == [5, 2, 1]
    assert await pick(includePaths=["apps"], discoveryLimit=2) == [5, 3]
    assert await pick(includePaths=["nothing/here"]) == []


async def test_since_and_expression_filter(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    made = fast_import(repo, commits(10))
    url = repo.as_uri()
    result = await discover({"repoURL": url, "since": "2023-11-14T22:20:20Z"})  # T0 + 7 min
    assert ids(result) == made[::-1][:3]
    result = await discover({"repoURL": url, "expressionFilter": 'subject endsWith "3" || subject endsWith "5"'})
    assert ids(result) == [made[5], made[3]]


async def test_new_commit_and_force_push_seen_on_next_pass(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    url = repo.as_uri()
    made = fast_import(repo, commits(3))
    assert ids(await discover({"repoURL": url})) == made[::-1]
    newer = fast_import(repo, commits(1, start=3))
    assert ids(await discover({"repoURL": url})) == newer + made[::-1]
    # history rewritten upstream: the branch now points at a different line
    rewritten = fast_import(repo, [FastCommit("rewritten", T0 + 9000, {"app/f": "new\n"})], branch="tmp")
    git("update-ref", "refs/heads/main", rewritten[0], cwd=repo)
    git("update-ref", "-d", "refs/heads/tmp", cwd=repo)
    assert ids(await discover({"repoURL": url})) == rewritten


async def test_missing_branch_and_empty_repository(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    empty = await discover({"repoURL": repo.as_uri()})
    assert empty["commits"] == []
    fast_import(repo, commits(1))
    err = await failure({"repoURL": repo.as_uri(), "branch": "nope"})
    assert err.type == "DiscoveryError" and err.non_retryable
    assert "branch 'nope' not found" in str(err) and repo.as_uri() in str(err)


# --- tag strategies --------------------------------------------------------------------------


@pytest.fixture
def tagged(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A repository whose tags cover the strategies; returns (url, tag -> commit id)."""
    repo = bare(tmp_path)
    names = ["v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0-rc.1", "v1.3", "nightly", "v0.9.0"]
    made = fast_import(repo, [FastCommit(f"release {n}", T0 + i * 100, {f"src/{n}": "1"}) for i, n in enumerate(names)])
    made.append(fast_import(repo, [FastCommit("docs only", T0 + 1000, {"docs/x.md": "1"})])[0])
    by_tag = dict(zip(names, made))
    by_tag["v3.0.0"] = made[-1]  # a release that only touched docs
    for i, (name, sha) in enumerate(by_tag.items()):
        when = {"GIT_COMMITTER_DATE": f"{T0 + 5000 + i * 10} +0000"}
        if name in ("v1.10.0", "v0.9.0", "v3.0.0"):  # annotated, with a tagger date of its own
            git("tag", "-a", name, "-m", f"annotated {name}", sha, cwd=repo, env=when)
        else:
            git("tag", name, sha, cwd=repo)
    return repo.as_uri(), by_tag


async def test_semver(tagged: tuple[str, dict[str, str]], work: Path) -> None:
    url, by_tag = tagged
    result = await discover({"repoURL": url, "commitSelectionStrategy": "SemVer"})
    assert tags(result) == ["v3.0.0", "v2.0.0-rc.1", "v1.10.0", "v1.2.0", "v1.0.0", "v0.9.0"]
    assert [c["id"] for c in result["commits"]] == [by_tag[t] for t in tags(result)]  # peeled commits
    assert "branch" not in result and all("branch" not in c for c in result["commits"])
    annotated = result["commits"][2]
    assert annotated["subject"] == "release v1.10.0" and annotated["creatorDate"] == "2023-11-14T23:37:00Z"  # tagger date
    result = await discover(
        {"repoURL": url, "commitSelectionStrategy": "SemVer", "semverConstraint": "^1.2", "strictSemvers": False}
    )
    assert tags(result) == ["v1.10.0", "v1.3", "v1.2.0"]


async def test_lexical_newest_tag_and_regexes(tagged: tuple[str, dict[str, str]], work: Path) -> None:
    url, _ = tagged
    result = await discover({"repoURL": url, "commitSelectionStrategy": "Lexical", "discoveryLimit": 3})
    assert tags(result) == ["v3.0.0", "v2.0.0-rc.1", "v1.3"]
    # lightweight tags date from their commit, annotated ones from the tagger
    result = await discover({"repoURL": url, "commitSelectionStrategy": "NewestTag"})
    assert tags(result)[:4] == ["v3.0.0", "v0.9.0", "v1.10.0", "nightly"]
    result = await discover(
        {
            "repoURL": url,
            "commitSelectionStrategy": "NewestTag",
            "allowTagsRegexes": ["^v1\\.", "^nightly$"],
            "ignoreTagsRegexes": ["\\.10\\."],
        }
    )
    assert tags(result) == ["nightly", "v1.3", "v1.2.0", "v1.0.0"]


async def test_tag_path_filters_and_pruned_tags(tagged: tuple[str, dict[str, str]], work: Path) -> None:
    url, _ = tagged
    sub = {"repoURL": url, "commitSelectionStrategy": "SemVer", "excludePaths": ["docs"]}
    assert tags(await discover(sub))[:2] == ["v2.0.0-rc.1", "v1.10.0"]  # v3.0.0 only touched docs
    sub = {"repoURL": url, "commitSelectionStrategy": "Lexical", "includePaths": ["glob:src/v1.*"], "discoveryLimit": 2}
    assert tags(await discover(sub)) == ["v1.3", "v1.2.0"]
    git("tag", "-d", "v1.3", cwd=Path(url.removeprefix("file://")))
    assert tags(await discover(sub)) == ["v1.2.0", "v1.10.0"]  # the deleted tag is pruned from the mirror


# --- errors ----------------------------------------------------------------------------------


async def test_configuration_errors(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    fast_import(repo, commits(1))
    url = repo.as_uri()
    bad = [
        ({"commitSelectionStrategy": "SemVer", "semverConstraint": ">= banana"}, "semverConstraint"),
        ({"commitSelectionStrategy": "Lexical", "allowTagsRegexes": ["("]}, "allowTagsRegexes"),
        ({"includePaths": ["glob:apps/["]}, "includePaths"),
        ({"excludePaths": ["regex:*"]}, "excludePaths"),
        ({"discoveryLimit": 500}, "discoveryLimit"),
        ({"commitSelectionStrategy": "Newest"}, "commitSelectionStrategy"),
        ({"branch": "bad..name"}, "branch"),
        ({"expressionFilter": "subject =="}, "expressionFilter"),
    ]
    for extra, field in bad:
        err = await failure({"repoURL": url, **extra})
        assert err.type == "DiscoveryError" and err.non_retryable, extra
        assert field in str(err) and url in str(err), str(err)


async def test_unknown_repository(tmp_path: Path, work: Path) -> None:
    url = (tmp_path / "no-such-repo.git").as_uri()
    err = await failure({"repoURL": url})
    assert err.type == "DiscoveryError" and err.non_retryable
    assert "repository not found" in str(err) and url in str(err)


async def test_unreachable_server_is_retryable(work: Path) -> None:
    err = await failure({"repoURL": "http://127.0.0.1:9/nothing.git"})
    assert err.type == "DiscoveryUnavailable" and not err.non_retryable


async def test_credentials_over_http(tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = bare(tmp_path)
    made = fast_import(repo, commits(3))
    with GitHTTPServer(repo.parent, USER, PASSWORD) as server:
        url = server.url_for(repo)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", server.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", PASSWORD)
        assert ids(await discover({"repoURL": url})) == made[::-1]
        newer = fast_import(repo, commits(1, start=3))
        assert ids(await discover({"repoURL": url}))[0] == newer[0]  # warm pass fetches with the creds too
        missing = await failure({"repoURL": server.base_url + "/missing.git"})
        assert missing.type == "DiscoveryError" and "repository not found" in str(missing)

        wrong = "wr0ng-Secret-value"
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", wrong)
        for where in (url, f"{server.base_url}/other.git"):  # warm mirror (fetch) and cold (clone)
            err = await failure({"repoURL": where})
            assert err.type == "DiscoveryError" and err.non_retryable
            assert "authentication failed" in str(err) and where in str(err)
            assert wrong not in str(err) and PASSWORD not in str(err)
    mirror = work / "discovery" / "git"
    for config in mirror.glob("*/repo.git/config"):
        assert PASSWORD not in config.read_text()


async def test_concurrent_discoveries_share_one_mirror(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    made = fast_import(repo, commits(30))
    subs = [{"repoURL": repo.as_uri()}, {"repoURL": repo.as_uri() + "/", "includePaths": ["app"]}] * 2
    results = await asyncio.gather(*(discover(s) for s in subs))
    assert all(ids(r) == made[::-1][:20] for r in results)
    assert len(list((work / "discovery" / "git").iterdir())) == 1  # one mirror for both URL spellings


async def test_blobless_mirror(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    git("config", "uploadpack.allowFilter", "true", cwd=repo)
    made = fast_import(repo, commits(4, path="apps/web/values.yaml"))
    result = await discover({"repoURL": repo.as_uri(), "blobless": True, "includePaths": ["apps/web"]})
    assert ids(result) == made[::-1]  # path filters read trees only, never blobs
    (mirror,) = (work / "discovery" / "git").glob("*/repo.git")
    assert git("config", "remote.origin.partialclonefilter", cwd=mirror) == "blob:none"


async def test_damaged_mirror_is_rebuilt(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    made = fast_import(repo, commits(3))
    assert ids(await discover({"repoURL": repo.as_uri()})) == made[::-1]
    (mirror,) = (work / "discovery" / "git").glob("*/repo.git")
    for part in ("objects", "refs"):
        shutil.rmtree(mirror / part)
    assert ids(await discover({"repoURL": repo.as_uri()})) == made[::-1]


async def test_insecure_skip_tls_verify_is_not_stored(tmp_path: Path, work: Path) -> None:
    repo = bare(tmp_path)
    made = fast_import(repo, commits(2))
    sub = {"repoURL": repo.as_uri(), "insecureSkipTLSVerify": True}
    assert ids(await discover(sub)) == made[::-1]
    assert ids(await discover(sub)) == made[::-1]
    (mirror,) = (work / "discovery" / "git").glob("*/repo.git")
    assert "sslverify" not in (mirror / "config").read_text().lower()
