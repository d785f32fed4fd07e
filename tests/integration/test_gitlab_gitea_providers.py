"""The GitLab and Gitea/Forgejo providers, and the three pull-request steps on them, against
loopback fakes of each service's REST API over real bare repositories (no Temporal needed):
what the steps see is what the services answer, and every merge is a real git merge."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.gitproviders import ProviderHTTPError, open_provider  # noqa: E402
from activities.gitproviders.api import check, next_page  # noqa: E402
from activities.steps.base import STEP_FAILED  # noqa: E402
from activities.steps.git_merge_pr import git_merge_pr  # noqa: E402
from activities.steps.git_open_pr import git_open_pr  # noqa: E402
from activities.steps.git_wait_for_pr import git_wait_for_pr  # noqa: E402
from tests.fakes.gitea import GiteaFake  # noqa: E402
from tests.fakes.gitlab import GitLabFake  # noqa: E402
from tests.fakes.gitservice import GitService  # noqa: E402
from tests.gitrepos import git, promo, step, work_root  # noqa: E402,F401

TOKEN = "tok-9f8e7d6c5b4a"
env = ActivityEnvironment()


def _commit(repo: Path, path: str, content: str, message: str) -> None:
    (repo / path).write_text(content)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def source_repo(path: Path) -> Path:
    """main, three feature branches of two commits each (one per merge method), a branch that
    conflicts with main, and stage/uat (a name with a slash)."""
    git("init", "-q", "-b", "main", str(path))
    _commit(path, "README", "v1\n", "first")
    for name in ("feat-merge", "feat-squash", "feat-rebase", "feat-steps", "feat-closed", "feat-wait"):
        git("checkout", "-q", "-b", name, "main", cwd=path)
        _commit(path, f"{name}.yaml", "tag: 1\n", f"add {name}")
        _commit(path, f"{name}.yaml", "tag: 2\n", f"bump {name} to 2")
    git("checkout", "-q", "-b", "conflict", "main", cwd=path)
    _commit(path, "README", "theirs\n", "their README")
    git("checkout", "-q", "main", cwd=path)
    _commit(path, "README", "ours\n", "our README")
    git("branch", "stage/uat", "main", cwd=path)
    return path


@dataclass
class Service:
    kind: str  # gitlab, gitea, forgejo (the step's `provider`)
    fake: GitLabFake | GiteaFake
    repo: str

    @property
    def url(self) -> str:
        return self.fake.repo_url(self.repo)

    @property
    def gitlab(self) -> bool:
        return self.kind == "gitlab"

    def pr_url(self, number: int) -> str:
        fake = self.fake
        return fake.mr_url(self.repo, number) if isinstance(fake, GitLabFake) else fake.pr_url(self.repo, number)

    def head(self, branch: str = "main") -> str:
        return self.fake.head(self.repo, branch)

    def provider(self):
        return open_provider(self.url, self.kind)


def _service(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    fake: GitService
    if kind == "gitlab":
        fake, repo = GitLabFake(tmp_path / "srv", token=TOKEN), "group/sub/app"
    else:
        fake, repo = GiteaFake(tmp_path / "srv", token=TOKEN), "org/app"
    fake.add_repo(repo, source_repo(tmp_path / "src"))
    for var in [v for v in os.environ if v.startswith("GANTRY_GIT_CREDENTIALS_")]:
        monkeypatch.delenv(var)
    monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
    with fake:
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", f"{fake.base_url}/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", TOKEN)
        yield Service(kind, fake, repo)  # type: ignore[arg-type]


@pytest.fixture(params=["gitlab", "gitea"])
def svc(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    yield from _service(request.param, tmp_path, monkeypatch)


@pytest.fixture(params=["gitlab", "gitea", "forgejo"])
def step_svc(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, work_root: Path) -> Iterator[Service]:
    yield from _service(request.param, tmp_path, monkeypatch)


# -- the providers ------------------------------------------------------------------------


async def test_open_with_labels_then_get(svc: Service) -> None:
    if isinstance(svc.fake, GiteaFake):
        existing = svc.fake.add_label(svc.repo, "promotion")
    async with svc.provider() as p:
        pr = await p.open_pr(
            source="feat-merge", target="main", title="Promote uat", description="freight abc", labels=["promotion", "uat"]
        )
        assert (pr.id, pr.url, pr.state) == (1, svc.pr_url(1), "open")
        assert (pr.source_branch, pr.target_branch) == ("feat-merge", "main")
        record = svc.fake.prs(svc.repo)[0]
        assert (record.title, record.body, record.labels) == ("Promote uat", "freight abc", ["promotion", "uat"])
        got = await p.get_pr(1)
        assert got.state == "open" and got.head_commit == svc.head("feat-merge") and got.mergeable is True
        assert got.merge_commit is None and got.closed_by is None
        # opening the same again (a retry whose first answer was lost) gives the same one
        again = await p.open_pr(source="feat-merge", target="main", title="Promote uat", description="", labels=[])
        assert again.id == 1 and len(svc.fake.prs(svc.repo)) == 1
    if isinstance(svc.fake, GiteaFake):
        # "promotion" existed and was used by id; "uat" was created, once
        assert [label["name"] for label in svc.fake.labels[svc.repo]] == ["promotion", "uat"]
        assert svc.fake.labels[svc.repo][0]["id"] == existing["id"]
    else:  # the project is addressed by its URL-encoded path
        assert ("POST", "/api/v4/projects/group%2Fsub%2Fapp/merge_requests") in svc.fake.requests


async def test_find_open_pr_across_pages(svc: Service) -> None:
    fake = svc.fake
    wanted = fake.open(svc.repo, "feat-wait", "main", "the one")
    fake.close(svc.repo, fake.open(svc.repo, "feat-wait", "stage/uat", "closed one").number)
    for n in range(5):
        fake.open(svc.repo, f"other-{n}", "main", f"other {n}")
    if isinstance(fake, GiteaFake):
        fake.max_items = 2  # newest first: the wanted one is on the last page
    else:
        fake.max_per_page = 2
    async with svc.provider() as p:
        found = await p.find_open_pr(source="feat-wait", target="main")
        assert found is not None and (found.id, found.state, found.url) == (wanted.number, "open", svc.pr_url(wanted.number))
        assert await p.find_open_pr(source="feat-wait", target="stage/uat") is None  # closed ones do not count
        assert await p.find_open_pr(source="nope", target="main") is None
    lists = [r for r in fake.requests if r[0] == "GET" and r[1].endswith(("/merge_requests", "/pulls"))]
    if isinstance(fake, GiteaFake):
        assert len(lists) >= 4  # 4 pages of 2 for the first search alone
    # the fake's own paging, as the service pages an unfiltered list
    path = "/api/v4/projects/group%2Fsub%2Fapp/merge_requests" if svc.gitlab else "/api/v1/repos/org/app/pulls"
    params = {"per_page": 2} if svc.gitlab else {"limit": 2}
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        first = check(await c.get(path, params={**params, "state": "opened" if svc.gitlab else "open"}), "list")
        assert len(first.json()) == 2 and next_page(first) == 2
        last = check(await c.get(path, params={**params, "page": 3, "state": "opened" if svc.gitlab else "open"}), "list")
        assert len(last.json()) == 2 and next_page(last) is None


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_merge_with_each_method(svc: Service, method: str) -> None:
    branch = f"feat-{method}"
    before = svc.head()
    async with svc.provider() as p:
        opened = await p.open_pr(source=branch, target="main", title=f"{method} it", description="", labels=[])
        if svc.gitlab and method == "rebase":
            with pytest.raises(ProviderHTTPError) as e:
                await p.merge_pr(opened.id, method="rebase")
            assert e.value.status == 400 and "merge method setting" in str(e.value)
            assert svc.head() == before and (await p.get_pr(opened.id)).state == "open"
            return
        merged = await p.merge_pr(opened.id, method=method)  # type: ignore[arg-type]
        assert merged.state == "merged" and merged.closed_by == "gantry"
        # the merge commit is the real commit the target branch now points at
        assert merged.merge_commit == svc.head() != before
        assert (await p.get_pr(opened.id)).merge_commit == merged.merge_commit
        # merging again is a no-op that reports the same merge
        assert (await p.merge_pr(opened.id, method=method)).merge_commit == merged.merge_commit  # type: ignore[arg-type]
    bare = svc.fake.bare(svc.repo)
    parents = git("rev-list", "--parents", "-n", "1", "main", cwd=bare).split()[1:]
    subjects = git("log", "--format=%s", f"{before}..main", cwd=bare).splitlines()
    assert git("show", f"main:{branch}.yaml", cwd=bare) == "tag: 2"
    if method == "merge":
        assert len(parents) == 2 and parents[1] == svc.head(branch)
    elif method == "squash":
        assert len(parents) == 1 and len(subjects) == 1
    else:
        assert len(parents) == 1 and subjects == [f"bump {branch} to 2", f"add {branch}"]


async def test_merged_by_a_reviewer_and_closed_unmerged(svc: Service) -> None:
    async with svc.provider() as p:
        one = await p.open_pr(source="feat-merge", target="main", title="one", description="", labels=[])
        two = await p.open_pr(source="feat-closed", target="main", title="two", description="", labels=[])
        svc.fake.merge(svc.repo, one.id, by="alice")
        svc.fake.close(svc.repo, two.id, by="bob")
        merged = await p.get_pr(one.id)
        assert (merged.state, merged.closed_by, merged.merge_commit) == ("merged", "alice", svc.head())
        closed = await p.get_pr(two.id)
        assert (closed.state, closed.closed_by, closed.merge_commit) == ("closed", "bob", None)
        assert await p.find_open_pr(source="feat-closed", target="main") is None


async def test_conflicts(svc: Service) -> None:
    before = svc.head()
    async with svc.provider() as p:
        pr = await p.open_pr(source="conflict", target="main", title="clash", description="", labels=[])
        got = await p.get_pr(pr.id)
        with pytest.raises(ProviderHTTPError) as e:
            await p.merge_pr(pr.id)
    if svc.gitlab:
        assert got.mergeable is False  # detailed_merge_status: conflict
        assert e.value.status == 422 and "Branch cannot be merged" in str(e.value)
    else:
        assert got.mergeable is None  # Gitea says `mergeable: false` for conflicts and checks alike
        assert e.value.status == 405 and "conflicts, or its merge check" in str(e.value)
    assert svc.head() == before


async def test_not_mergeable_while_checks_run(svc: Service) -> None:
    async with svc.provider() as p:
        pr = await p.open_pr(source="feat-merge", target="main", title="checks", description="", labels=[])
        record = svc.fake.find(svc.repo, pr.id)
        assert record is not None
        record.pending_checks = 5
        assert (await p.get_pr(pr.id)).mergeable is None
        if svc.gitlab:  # ci_still_running: not tried at all
            calls = len(svc.fake.requests)
            still = await p.merge_pr(pr.id)
            assert still.state == "open" and still.mergeable is None
            assert not any(r[1].endswith("/merge") for r in svc.fake.requests[calls:])
        else:  # tried, and Gitea refuses it for now
            with pytest.raises(ProviderHTTPError) as e:
                await p.merge_pr(pr.id)
            assert e.value.status == 405 and "Please try again later" in str(e.value)
        record.pending_checks = 0
        assert (await p.merge_pr(pr.id)).merge_commit == svc.head()


async def test_branch_exists(svc: Service) -> None:
    async with svc.provider() as p:
        assert await p.branch_exists("main")
        assert await p.branch_exists("stage/uat")
        assert not await p.branch_exists("nope")
        assert not await p.branch_exists("stage/nope")


async def test_unauthorized_never_shows_the_token(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD")
    monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_URL")
    async with svc.provider() as p:
        with pytest.raises(ProviderHTTPError) as e:
            await p.get_pr(1)
    assert e.value.status == 401 and not e.value.rate_limited
    assert ("401 Unauthorized" if svc.gitlab else "token is required") in str(e.value)
    wrong = "wrong-token-5a5a5a"
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", f"{svc.fake.base_url}/")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", wrong)
    async with svc.provider() as p:
        with pytest.raises(ProviderHTTPError) as e:
            await p.open_pr(source="feat-merge", target="main", title="t", description="", labels=["x"])
    assert e.value.status == 401
    assert wrong not in str(e.value) and TOKEN not in str(e.value) and wrong not in repr(e.value.args)


@pytest.mark.parametrize("retry_after_header", [True, False])
async def test_rate_limited(svc: Service, retry_after_header: bool) -> None:
    if not retry_after_header and not svc.gitlab:
        pytest.skip("only GitLab says when the limit resets without Retry-After")
    if isinstance(svc.fake, GitLabFake):
        svc.fake.send_retry_after = retry_after_header
    svc.fake.rate_limit(1)
    async with svc.provider() as p:
        with pytest.raises(ProviderHTTPError) as e:
            await p.branch_exists("main")
        assert e.value.status == 429 and e.value.rate_limited
        assert e.value.retry_after is not None and abs(e.value.retry_after - svc.fake.rate_limit_wait) <= 2
        assert await p.branch_exists("main")  # the next call goes through


async def test_gitlab_error_messages_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitLab's validation errors come as lists: the message is their text, not a repr."""
    for svc in _service("gitlab", tmp_path, monkeypatch):
        async with httpx.AsyncClient(base_url=f"{svc.fake.base_url}/api/v4", headers={"PRIVATE-TOKEN": TOKEN}) as c:
            path = "/projects/group%2Fsub%2Fapp/merge_requests"
            body = {"source_branch": "feat-merge", "target_branch": "main", "title": "t"}
            check(await c.post(path, json=body), "open")
            with pytest.raises(ProviderHTTPError) as e:
                check(await c.post(path, json=body), "open again")
            assert e.value.status == 409
            assert str(e.value) == "open again: HTTP 409: Another open merge request already exists for this source branch: !1"
            with pytest.raises(ProviderHTTPError) as e:
                check(await c.get("/projects/group%2Fsub%2Fapp/merge_requests/7"), "read")
            assert str(e.value) == "read: HTTP 404: 404 Not found"
            svc.fake.rate_limit(1)
            with pytest.raises(ProviderHTTPError) as e:
                check(await c.get(path), "list")
            assert str(e.value) == "list: HTTP 429: Retry later"


# -- the steps ----------------------------------------------------------------------------


def _cfg(svc: Service, **extra: object) -> dict:
    return {"repoURL": svc.url, "provider": svc.kind, **extra}


async def test_open_pr_step_is_idempotent(step_svc: Service, promo: str) -> None:
    svc = step_svc
    cfg = _cfg(svc, sourceBranch="feat-steps", targetBranch="main", labels=["promotion"], description="from gantry")
    first = await env.run(git_open_pr, step(promo, "git-open-pr", cfg))
    assert first.status == "Succeeded" and first.outputs["pr"] == {"id": 1, "url": svc.pr_url(1)}
    again = await env.run(git_open_pr, step(promo, "git-open-pr", cfg))
    assert again.outputs == first.outputs
    (record,) = svc.fake.prs(svc.repo)
    # no title: the newest commit's subject and how many more, as Kargo makes it
    assert record.title == "bump feat-steps to 2 (and 1 more commit)"
    assert (record.labels, record.body) == (["promotion"], "from gantry")


async def test_wait_for_pr_step_until_merged(step_svc: Service, promo: str) -> None:
    svc = step_svc
    opened = await env.run(git_open_pr, step(promo, "git-open-pr", _cfg(svc, sourceBranch="feat-wait", targetBranch="main", title="wait")))
    number = opened.outputs["pr"]["id"]
    wait = step(promo, "git-wait-for-pr", _cfg(svc, prNumber=number))
    running = await env.run(git_wait_for_pr, wait)
    assert running.status == "Running" and running.outputs["pr"]["open"] is True
    svc.fake.merge(svc.repo, number, by="reviewer")
    done = await env.run(git_wait_for_pr, wait)
    assert done.status == "Succeeded"
    assert done.outputs["commit"] == svc.head() and done.outputs["pr"]["merged"] is True


async def test_wait_for_pr_step_fails_when_closed_unmerged(step_svc: Service, promo: str) -> None:
    svc = step_svc
    opened = await env.run(git_open_pr, step(promo, "git-open-pr", _cfg(svc, sourceBranch="feat-closed", targetBranch="main", title="nope")))
    number = opened.outputs["pr"]["id"]
    svc.fake.close(svc.repo, number, by="bob")
    with pytest.raises(ApplicationError) as e:
        await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", _cfg(svc, prNumber=number)))
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert svc.pr_url(number) in str(e.value) and "closed by bob" in str(e.value)


async def test_merge_pr_step_waits_for_checks_then_merges(step_svc: Service, promo: str) -> None:
    svc = step_svc
    opened = await env.run(git_open_pr, step(promo, "git-open-pr", _cfg(svc, sourceBranch="feat-squash", targetBranch="main", title="sq")))
    number = opened.outputs["pr"]["id"]
    record = svc.fake.find(svc.repo, number)
    assert record is not None
    record.pending_checks = 3  # each read of the PR uses one up: the step reads it twice
    merge = step(promo, "git-merge-pr", _cfg(svc, prNumber=number, mergeMethod="squash", wait=True))
    waiting = await env.run(git_merge_pr, merge)
    assert waiting.status == "Running" and svc.fake.find(svc.repo, number).state == "open"  # type: ignore[union-attr]
    done = await env.run(git_merge_pr, merge)
    assert done.status == "Succeeded" and done.outputs["commit"] == svc.head()
    assert len(git("rev-list", "--parents", "-n", "1", "main", cwd=svc.fake.bare(svc.repo)).split()) == 2  # squashed
    # merged already: the same answer again
    assert (await env.run(git_merge_pr, merge)).outputs == done.outputs


async def test_merge_pr_step_fails_on_conflicts(step_svc: Service, promo: str) -> None:
    svc = step_svc
    opened = await env.run(git_open_pr, step(promo, "git-open-pr", _cfg(svc, sourceBranch="conflict", targetBranch="main", title="clash")))
    number = opened.outputs["pr"]["id"]
    with pytest.raises(ApplicationError) as e:
        await env.run(git_merge_pr, step(promo, "git-merge-pr", _cfg(svc, prNumber=number)))
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert ("conflicts" in str(e.value)) if svc.gitlab else ("Please try again later" in str(e.value))


async def test_steps_ride_out_a_rate_limit(step_svc: Service, promo: str) -> None:
    svc = step_svc
    cfg = _cfg(svc, sourceBranch="feat-merge", targetBranch="main", title="limited")
    svc.fake.rate_limit(1)
    limited = await env.run(git_open_pr, step(promo, "git-open-pr", cfg))
    assert limited.status == "Running" and "rate limited" in (limited.message or "")
    assert limited.poll_after is not None and abs(limited.poll_after - svc.fake.rate_limit_wait) <= 2
    assert svc.fake.prs(svc.repo) == []
    number = (await env.run(git_open_pr, step(promo, "git-open-pr", cfg))).outputs["pr"]["id"]
    svc.fake.rate_limit(1)
    waiting = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", _cfg(svc, prNumber=number)))
    assert waiting.status == "Running" and waiting.poll_after is not None


async def test_merge_pr_step_rebase_on_gitlab_names_the_project_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promo: str) -> None:
    for svc in _service("gitlab", tmp_path, monkeypatch):
        opened = await env.run(git_open_pr, step(promo, "git-open-pr", _cfg(svc, sourceBranch="feat-rebase", targetBranch="main", title="r")))
        merge = step(promo, "git-merge-pr", _cfg(svc, prNumber=opened.outputs["pr"]["id"], mergeMethod="rebase"))
        with pytest.raises(ApplicationError) as e:
            await env.run(git_merge_pr, merge)
        assert e.value.type == STEP_FAILED and "merge method setting" in str(e.value)
        assert svc.fake.find(svc.repo, 1).state == "open"  # type: ignore[union-attr]
