"""The GitHub provider and the three pull-request steps against a loopback GitHub
(Enterprise) fake: real bare repositories over git's smart HTTP, GitHub's REST API over
HTTP, merges that really change the target branch in git. No Temporal server."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.gitproviders import ProviderHTTPError, open_provider  # noqa: E402
from activities.gitproviders.github import GitHubProvider  # noqa: E402
from activities.steps.base import STEP_FAILED  # noqa: E402
from activities.steps.git_merge_pr import git_merge_pr  # noqa: E402
from activities.steps.git_open_pr import git_open_pr  # noqa: E402
from activities.steps.git_wait_for_pr import git_wait_for_pr  # noqa: E402
from tests.fakes.github import GitHubFake  # noqa: E402
from tests.gitrepos import git, promo, step, work_root  # noqa: E402,F401

TOKEN = "ghp_s3cret-t0ken-for-the-fake"
REPO = "org/app"
env = ActivityEnvironment()


def commit(clone: Path, path: str, content: str, message: str) -> str:
    (clone / path).parent.mkdir(parents=True, exist_ok=True)
    (clone / path).write_text(content)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", message, cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    """main (one commit) and feature (two commits on top of it)."""
    src = tmp_path / "seed"
    git("init", "-q", "-b", "main", str(src))
    commit(src, "app.yaml", "image: app:1.0\n", "initial layout")
    git("checkout", "-q", "-b", "feature", cwd=src)
    commit(src, "app.yaml", "image: app:1.1\n", "bump app to 1.1")
    commit(src, "notes.txt", "1.1\n", "note the bump")
    git("checkout", "-q", "main", cwd=src)
    return src


@pytest.fixture
def gh(tmp_path: Path, seed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    with GitHubFake(tmp_path / "srv", token=TOKEN) as fake:
        fake.add_repo(REPO, seed)
        git("push", "-q", str(fake.bare(REPO)), "feature", cwd=seed)
        monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", fake.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", TOKEN)
        yield fake


def repo_url(gh: GitHubFake) -> str:
    return gh.repo_url(REPO)


def provider(gh: GitHubFake):
    return open_provider(repo_url(gh), "github")


def branch_on(gh: GitHubFake, tmp_path: Path, branch: str, files: dict[str, str], start: str = "main") -> str:
    """Push a new branch `branch` (from `start`) with one commit of `files`, as a person would."""
    clone = tmp_path / f"clone-{branch.replace('/', '-')}-{time.monotonic_ns()}"
    git("clone", "-q", "-b", start, str(gh.bare(REPO)), str(clone))
    git("checkout", "-q", "-B", branch, cwd=clone)
    for path, content in files.items():
        sha = commit(clone, path, content, f"change {path} on {branch}")
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=clone)
    return sha


def parents(gh: GitHubFake, ref: str) -> list[str]:
    return git("rev-list", "--parents", "-n", "1", ref, cwd=gh.bare(REPO)).split()[1:]


def no_token(err: BaseException) -> None:
    assert TOKEN not in str(err) and TOKEN not in repr(err)


# -- the provider ---------------------------------------------------------------------


async def test_open_with_labels_then_find_and_get(gh: GitHubFake) -> None:
    async with provider(gh) as p:
        assert isinstance(p, GitHubProvider)
        pr = await p.open_pr(source="feature", target="main", title="Promote", description="why", labels=["promotion", "uat"])
        assert pr.id == 1 and pr.state == "open"
        assert pr.url == f"{gh.base_url}/{REPO}/pull/1"
        assert (pr.source_branch, pr.target_branch) == ("feature", "main")
        assert pr.head_commit == gh.head(REPO, "feature")
        [record] = gh.prs(REPO)
        assert (record.title, record.body, record.labels, record.author) == ("Promote", "why", ["promotion", "uat"], "gantry-bot")
        assert ("POST", "/api/v3/repos/org/app/issues/1/labels") in gh.requests
        found = await p.find_open_pr(source="feature", target="main")
        assert found is not None and found.id == 1
        assert await p.find_open_pr(source="feature", target="other") is None
        assert await p.find_open_pr(source="other", target="main") is None
        got = await p.get_pr(1)
        assert got.state == "open" and got.mergeable is True and got.merge_commit is None and got.closed_by is None


async def test_open_without_labels_makes_no_label_call(gh: GitHubFake) -> None:
    async with provider(gh) as p:
        await p.open_pr(source="feature", target="main", title="t", description="", labels=[])
    assert not any(path.endswith("/labels") for _, path in gh.requests)


async def test_open_when_one_already_exists_returns_it(gh: GitHubFake) -> None:
    """GitHub's 422 "A pull request already exists" (a lost answer, a race) is that PR."""
    gh.open(REPO, "feature", "main", "opened before")
    async with provider(gh) as p:
        pr = await p.open_pr(source="feature", target="main", title="again", description="", labels=[])
    assert pr.id == 1 and len(gh.prs(REPO)) == 1


async def test_open_from_a_missing_branch_says_which(gh: GitHubFake) -> None:
    async with provider(gh) as p:
        with pytest.raises(ProviderHTTPError) as caught:
            await p.open_pr(source="nope", target="main", title="t", description="", labels=[])
    assert caught.value.status == 422
    assert "Validation Failed" in str(caught.value) and "head invalid" in str(caught.value)
    no_token(caught.value)


async def test_find_open_pr_follows_pages(gh: GitHubFake, tmp_path: Path) -> None:
    """The match is on the second page: the provider follows Link rel="next" and checks
    head and base itself."""
    gh.open(REPO, "feature", "main", "ours")
    branch_on(gh, tmp_path, "other", {"x.txt": "x\n"})
    gh.open(REPO, "other", "main", "someone else's")
    gh.max_per_page, gh.list_filters = 1, False
    async with provider(gh) as p:
        found = await p.find_open_pr(source="feature", target="main")
        assert found is not None and found.id == 1
        assert [r for r in gh.requests if r == ("GET", "/api/v3/repos/org/app/pulls")] == [("GET", "/api/v3/repos/org/app/pulls")] * 2
        assert await p.find_open_pr(source="feature", target="release") is None


async def test_get_merged_has_the_real_merge_commit(gh: GitHubFake) -> None:
    gh.open(REPO, "feature", "main", "t")
    gh.merge(REPO, 1, by="reviewer")
    async with provider(gh) as p:
        pr = await p.get_pr(1)
    assert pr.state == "merged" and pr.closed_by == "reviewer"
    assert pr.merge_commit == gh.head(REPO, "main")
    assert parents(gh, "main")[1] == gh.head(REPO, "feature")


async def test_get_closed_unmerged_names_the_closer(gh: GitHubFake) -> None:
    main = gh.head(REPO, "main")
    gh.open(REPO, "feature", "main", "t")
    gh.close(REPO, 1, by="alice")
    async with provider(gh) as p:
        pr = await p.get_pr(1)
        with pytest.raises(ProviderHTTPError) as caught:
            await p.get_pr(7)
    assert pr.state == "closed" and pr.closed_by == "alice" and pr.merge_commit is None
    assert ("GET", "/api/v3/repos/org/app/issues/1") in gh.requests
    assert gh.head(REPO, "main") == main
    assert caught.value.status == 404 and "Not Found" in str(caught.value)


async def test_wait_for_pr_step_backs_off_while_the_provider_fails(gh: GitHubFake, promo: str) -> None:
    """5xx answers keep the wait Running, asked again after 15 s, 30 s, 60 s...; a good
    answer starts the count over."""
    gh.open(REPO, "feature", "main", "t")
    gh.fail(3, status=502)
    waits = []
    for _ in range(3):
        res = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg(gh, prNumber=1)))
        assert res.status == "Running" and "HTTP 502" in res.message, res
        waits.append(res.poll_after)
    assert waits == [15.0, 30.0, 60.0]
    res = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg(gh, prNumber=1)))
    assert res.status == "Running" and res.poll_after is None  # open: the poll interval again
    gh.fail(1)
    res = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg(gh, prNumber=1)))
    assert res.poll_after == 15.0, "the count started over"


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_merge_each_method_changes_the_target_branch(gh: GitHubFake, method: str) -> None:
    before = gh.head(REPO, "main")
    feature = gh.head(REPO, "feature")
    gh.open(REPO, "feature", "main", "t")
    async with provider(gh) as p:
        pr = await p.merge_pr(1, method=method)  # type: ignore[arg-type]
    main = gh.head(REPO, "main")
    assert pr.state == "merged" and pr.merge_commit == main != before and pr.closed_by == "gantry-bot"
    assert git("show", "main:app.yaml", cwd=gh.bare(REPO)) == "image: app:1.1"
    if method == "merge":
        assert parents(gh, "main") == [before, feature]
    elif method == "squash":
        assert parents(gh, "main") == [before]
        assert git("rev-parse", "main^{tree}", cwd=gh.bare(REPO)) == git("rev-parse", "feature^{tree}", cwd=gh.bare(REPO))
    else:
        assert git("log", "--format=%s", f"{before}..main", cwd=gh.bare(REPO)).splitlines() == ["note the bump", "bump app to 1.1"]
        assert parents(gh, "main~1") == [before]


async def test_merge_without_method_is_a_merge_commit(gh: GitHubFake) -> None:
    gh.open(REPO, "feature", "main", "t")
    async with provider(gh) as p:
        pr = await p.merge_pr(1)
    assert len(parents(gh, "main")) == 2 and pr.merge_commit == gh.head(REPO, "main")


async def test_conflicts_are_a_409_and_leave_the_branch(gh: GitHubFake, tmp_path: Path) -> None:
    branch_on(gh, tmp_path, "main", {"app.yaml": "image: app:9.9\n"})
    before = gh.head(REPO, "main")
    gh.open(REPO, "feature", "main", "t")
    async with provider(gh) as p:
        assert (await p.get_pr(1)).mergeable is False
        with pytest.raises(ProviderHTTPError) as caught:
            await p.merge_pr(1, method="merge")
    assert caught.value.status == 409 and not caught.value.rate_limited
    assert gh.head(REPO, "main") == before and gh.prs(REPO)[0].state == "open"
    no_token(caught.value)


async def test_pending_checks_are_a_405_until_done(gh: GitHubFake) -> None:
    gh.open(REPO, "feature", "main", "t").pending_checks = 1
    async with provider(gh) as p:
        with pytest.raises(ProviderHTTPError) as caught:
            await p.merge_pr(1)
        assert caught.value.status == 405 and "not mergeable" in str(caught.value)
        assert (await p.merge_pr(1)).state == "merged"


async def test_merging_a_merged_pr_returns_it(gh: GitHubFake) -> None:
    """GitHub answers 405 for a PR merged meanwhile; the provider sees it is merged."""
    gh.open(REPO, "feature", "main", "t")
    gh.merge(REPO, 1, by="reviewer")
    async with provider(gh) as p:
        pr = await p.merge_pr(1)
    assert pr.state == "merged" and pr.merge_commit == gh.head(REPO, "main") and pr.closed_by == "reviewer"


async def test_branch_exists(gh: GitHubFake, tmp_path: Path) -> None:
    branch_on(gh, tmp_path, "release/1.0", {"r.txt": "r\n"})
    async with provider(gh) as p:
        assert await p.branch_exists("main") is True
        assert await p.branch_exists("release/1.0") is True
        assert await p.branch_exists("release") is False
        assert await p.branch_exists("nope") is False


@pytest.mark.parametrize("password", [None, "ghp_wrong-but-secret"])
async def test_no_or_wrong_token_is_a_401_without_the_token(gh: GitHubFake, monkeypatch: pytest.MonkeyPatch, password: str | None) -> None:
    if password is None:
        monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_URL")
        monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD")
    else:
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", password)
    async with provider(gh) as p:
        with pytest.raises(ProviderHTTPError) as caught:
            await p.get_pr(1)
    assert caught.value.status == 401 and "Bad credentials" in str(caught.value)
    no_token(caught.value)
    if password:
        assert password not in str(caught.value)


@pytest.mark.parametrize("status", [403, 429])
async def test_rate_limits_say_how_long_to_wait(gh: GitHubFake, status: int) -> None:
    gh.open(REPO, "feature", "main", "t")
    gh.rate_limit_status = status
    gh.rate_limit(1)
    async with provider(gh) as p:
        with pytest.raises(ProviderHTTPError) as caught:
            await p.get_pr(1)
        assert (await p.get_pr(1)).state == "open"  # the next call is served
    err = caught.value
    assert err.status == status and err.rate_limited
    assert err.retry_after is not None and 30 <= err.retry_after <= 42
    no_token(err)


# -- the steps, called as activities with a real working directory --------------------


def cfg(gh: GitHubFake, **more: object) -> dict:
    return {"repoURL": repo_url(gh), "provider": "github", **more}


async def failed(coro) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await coro
    assert caught.value.type == STEP_FAILED and caught.value.non_retryable
    no_token(caught.value)
    return caught.value


async def test_open_pr_step_opens_once(gh: GitHubFake, promo: str) -> None:
    config = cfg(gh, sourceBranch="feature", targetBranch="main", title="Promote feature", labels=["kargo"])
    first = await env.run(git_open_pr, step(promo, "git-open-pr", config))
    assert first.status == "Succeeded"
    assert first.outputs == {"pr": {"id": 1, "url": f"{gh.base_url}/{REPO}/pull/1"}}
    again = await env.run(git_open_pr, step(promo, "git-open-pr", config))
    assert again.outputs == first.outputs
    [record] = gh.prs(REPO)
    assert record.title == "Promote feature" and record.labels == ["kargo"]


async def test_open_pr_step_titles_from_the_commits(gh: GitHubFake, promo: str) -> None:
    res = await env.run(git_open_pr, step(promo, "git-open-pr", cfg(gh, sourceBranch="feature", targetBranch="main")))
    assert res.status == "Succeeded"
    assert gh.prs(REPO)[0].title == "note the bump (and 1 more commit)"
    assert gh.prs(REPO)[0].target == "main"


async def test_open_pr_step_fails_on_a_missing_target(gh: GitHubFake, promo: str) -> None:
    err = await failed(env.run(git_open_pr, step(promo, "git-open-pr", cfg(gh, sourceBranch="feature", targetBranch="env/prod"))))
    assert "'env/prod' does not exist" in str(err) and "createTargetBranch" in str(err)
    assert gh.prs(REPO) == [] and not gh.branch_exists(REPO, "env/prod")


async def test_open_pr_step_creates_the_target_branch(gh: GitHubFake, promo: str) -> None:
    config = cfg(gh, sourceBranch="feature", targetBranch="env/prod", createTargetBranch=True, title="first prod")
    res = await env.run(git_open_pr, step(promo, "git-open-pr", config))
    assert res.status == "Succeeded" and res.outputs["pr"]["id"] == 1
    bare = gh.bare(REPO)
    assert gh.branch_exists(REPO, "env/prod")
    assert git("rev-list", "--count", "env/prod", cwd=bare) == "1"  # an orphan: no parent
    assert git("ls-tree", "env/prod", cwd=bare) == ""  # and empty
    assert gh.prs(REPO)[0].target == "env/prod"


async def test_open_pr_step_fails_on_a_missing_source(gh: GitHubFake, promo: str) -> None:
    err = await failed(env.run(git_open_pr, step(promo, "git-open-pr", cfg(gh, sourceBranch="nope", targetBranch="main"))))
    assert "'nope' does not exist" in str(err)


async def test_open_pr_step_is_running_when_rate_limited(gh: GitHubFake, promo: str) -> None:
    gh.rate_limit(1)
    res = await env.run(git_open_pr, step(promo, "git-open-pr", cfg(gh, sourceBranch="feature", targetBranch="main", title="t")))
    assert res.status == "Running" and res.poll_after is not None and 30 <= res.poll_after <= 42
    assert gh.prs(REPO) == []


async def test_wait_for_pr_step(gh: GitHubFake, promo: str) -> None:
    gh.open(REPO, "feature", "main", "t")
    url = f"{gh.base_url}/{REPO}/pull/1"
    config = cfg(gh, prNumber=1)
    res = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", config))
    assert res.status == "Running" and url in res.message
    gh.merge(REPO, 1, by="reviewer")
    res = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", config))
    assert res.status == "Succeeded"
    assert res.outputs["commit"] == gh.head(REPO, "main")
    assert res.outputs["pr"] == {"id": 1, "url": url, "open": False, "merged": True}


async def test_wait_for_pr_step_fails_when_closed(gh: GitHubFake, promo: str) -> None:
    gh.open(REPO, "feature", "main", "t")
    gh.close(REPO, 1, by="alice")
    err = await failed(env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg(gh, prNumber=1))))
    assert f"{gh.base_url}/{REPO}/pull/1" in str(err) and "alice" in str(err)


@pytest.mark.parametrize("status", [403, 429])
async def test_wait_for_pr_step_is_running_when_rate_limited(gh: GitHubFake, promo: str, status: int) -> None:
    gh.open(REPO, "feature", "main", "t")
    gh.rate_limit_status = status
    gh.rate_limit(1)
    res = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg(gh, prNumber=1)))
    assert res.status == "Running" and "rate limited" in res.message
    assert res.poll_after is not None and 30 <= res.poll_after <= 42


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_merge_pr_step_merges(gh: GitHubFake, promo: str, method: str) -> None:
    before = gh.head(REPO, "main")
    gh.open(REPO, "feature", "main", "t")
    res = await env.run(git_merge_pr, step(promo, "git-merge-pr", cfg(gh, prNumber=1, mergeMethod=method)))
    assert res.status == "Succeeded"
    assert res.outputs["commit"] == gh.head(REPO, "main") != before
    assert len(parents(gh, "main")) == (2 if method == "merge" else 1)


async def test_merge_pr_step_waits_for_checks(gh: GitHubFake, promo: str) -> None:
    gh.open(REPO, "feature", "main", "t").pending_checks = 1
    before = gh.head(REPO, "main")
    res = await env.run(git_merge_pr, step(promo, "git-merge-pr", cfg(gh, prNumber=1, wait=True)))
    assert res.status == "Running" and "not mergeable" in res.message
    assert gh.head(REPO, "main") == before
    res = await env.run(git_merge_pr, step(promo, "git-merge-pr", cfg(gh, prNumber=1, wait=True)))
    assert res.status == "Succeeded" and res.outputs["commit"] == gh.head(REPO, "main") != before


async def test_merge_pr_step_without_wait_fails_while_checks_run(gh: GitHubFake, promo: str) -> None:
    gh.open(REPO, "feature", "main", "t").pending_checks = 1
    err = await failed(env.run(git_merge_pr, step(promo, "git-merge-pr", cfg(gh, prNumber=1))))
    assert "405" in str(err) and "not mergeable" in str(err)


async def test_merge_pr_step_fails_on_conflicts(gh: GitHubFake, promo: str, tmp_path: Path) -> None:
    branch_on(gh, tmp_path, "main", {"app.yaml": "image: app:9.9\n"})
    before = gh.head(REPO, "main")
    gh.open(REPO, "feature", "main", "t")
    err = await failed(env.run(git_merge_pr, step(promo, "git-merge-pr", cfg(gh, prNumber=1, wait=True))))
    assert "conflicts" in str(err) and f"{gh.base_url}/{REPO}/pull/1" in str(err)
    assert gh.head(REPO, "main") == before


async def test_merge_pr_step_on_a_merged_pr_succeeds(gh: GitHubFake, promo: str) -> None:
    gh.open(REPO, "feature", "main", "t")
    gh.merge(REPO, 1, method="squash", by="reviewer")
    res = await env.run(git_merge_pr, step(promo, "git-merge-pr", cfg(gh, prNumber=1)))
    assert res.status == "Succeeded" and res.outputs["commit"] == gh.head(REPO, "main")
    assert not any(method == "PUT" for method, _ in gh.requests)


async def test_open_pr_step_says_when_the_target_cannot_be_created(gh: GitHubFake, promo: str) -> None:
    git("config", "http.receivepack", "false", cwd=gh.bare(REPO))  # the service refuses pushes
    config = cfg(gh, sourceBranch="feature", targetBranch="env/prod", createTargetBranch=True, title="t")
    with pytest.raises(ApplicationError) as caught:
        await env.run(git_open_pr, step(promo, "git-open-pr", config))
    assert "creating branch 'env/prod'" in str(caught.value)
    no_token(caught.value)
    assert gh.prs(REPO) == [] and not gh.branch_exists(REPO, "env/prod")


async def test_a_next_page_on_another_host_is_not_followed(gh: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Link header naming another origin (here `localhost` for `127.0.0.1`) would carry
    the token there: refused, and no second list call is made."""
    gh.open(REPO, "other", "main", "someone else's")
    gh.max_per_page, gh.list_filters = 1, False
    gh.open(REPO, "feature", "main", "ours")
    gh.open(REPO, "third", "main", "another")
    answer = gh.list_pulls

    def elsewhere(*args, **kw):
        status, headers, body = answer(*args, **kw)
        headers["Link"] = headers["Link"].replace("127.0.0.1", "localhost")
        return status, headers, body

    monkeypatch.setattr(gh, "list_pulls", elsewhere)
    async with provider(gh) as p:
        with pytest.raises(ProviderHTTPError) as caught:
            await p.find_open_pr(source="feature", target="main")
    assert "another host" in str(caught.value) and caught.value.status >= 500
    assert gh.requests.count(("GET", "/api/v3/repos/org/app/pulls")) == 1
