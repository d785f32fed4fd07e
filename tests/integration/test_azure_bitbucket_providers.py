"""The Azure DevOps and Bitbucket Cloud providers, and the three pull-request steps on them,
against loopback fakes of each service's REST API over real bare repositories (no Temporal).

Every test runs once per service (`svc`): the provider talks HTTP to the fake, the fake
merges in git, and what the tests check is what git says afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.gitproviders import ProviderHTTPError, open_provider  # noqa: E402
from activities.steps.base import STEP_FAILED  # noqa: E402
from activities.steps.git_merge_pr import git_merge_pr  # noqa: E402
from activities.steps.git_open_pr import git_open_pr  # noqa: E402
from activities.steps.git_wait_for_pr import git_wait_for_pr  # noqa: E402
from tests.fakes.azure import AzureDevOpsFake  # noqa: E402
from tests.fakes.bitbucket import BitbucketFake  # noqa: E402
from tests.fakes.gitservice import GitService  # noqa: E402
from tests.gitrepos import git, promo, step, work_root  # noqa: E402,F401

TOKEN = "pat-Zq81-not-for-messages"
env = ActivityEnvironment()


@dataclass
class Service:
    kind: str  # the step's `provider`
    fake: GitService
    repo: str  # the fake's key for the repository
    url: str  # the repoURL

    def web(self, number: int) -> str:
        if self.kind == "azure":
            return f"{self.fake.base_url}/org/proj/_git/app/pullrequest/{number}"
        return f"{self.fake.base_url}/team/app/pull-requests/{number}"

    def head(self, branch: str = "main") -> str:
        return self.fake.head(self.repo, branch)

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.fake.bare(self.repo))

    def provider(self):
        return open_provider(self.url, self.kind)

    def config(self, **cfg: Any) -> dict[str, Any]:
        return {"repoURL": self.url, "provider": self.kind, **cfg}


def seed(path: Path) -> Path:
    """main (app.yaml, README), `promo` bumping the image, `clash` editing README as main
    does too, and b1..b5 at promo; main then moves on (README) so the branches diverge."""
    git("init", "-q", "-b", "main", str(path))
    (path / "app.yaml").write_text("image: v1\n")
    (path / "README").write_text("readme v1\n")
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "initial", cwd=path)
    git("checkout", "-q", "-b", "promo", cwd=path)
    (path / "app.yaml").write_text("image: v2\n")
    git("commit", "-q", "-am", "Promote app to v2", cwd=path)
    for n in range(1, 6):
        git("branch", f"b{n}", cwd=path)
    git("checkout", "-q", "-b", "clash", "main", cwd=path)
    (path / "README").write_text("readme from clash\n")
    git("commit", "-q", "-am", "Clash with main", cwd=path)
    git("checkout", "-q", "main", cwd=path)
    (path / "README").write_text("readme v2\n")
    git("commit", "-q", "-am", "Docs", cwd=path)
    return path


@pytest.fixture(params=["azure", "bitbucket"])
def svc(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    source = seed(tmp_path / "seed")
    if request.param == "azure":
        fake: GitService = AzureDevOpsFake(tmp_path / "srv", token=TOKEN)
        repo = "org/proj/_git/app"
    else:
        fake = BitbucketFake(tmp_path / "srv", token=TOKEN)
        repo = "team/app"
    with fake:
        fake.add_repo(repo, source)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", fake.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", TOKEN)
        monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
        yield Service(request.param, fake, repo, fake.repo_url(repo))


# -- the providers -------------------------------------------------------------------


async def test_open_get_find_and_branches(svc: Service) -> None:
    async with svc.provider() as p:
        assert await p.branch_exists("main") and await p.branch_exists("promo")
        assert not await p.branch_exists("nope")
        assert not await p.branch_exists("mai")  # Azure's ref filter is a prefix match
        pr = await p.open_pr(source="promo", target="main", title="Promote v2", description="why", labels=["gantry", "uat"])
        assert (pr.id, pr.url, pr.state) == (1, svc.web(1), "open")
        assert (pr.source_branch, pr.target_branch, pr.merge_commit, pr.closed_by) == ("promo", "main", None, None)
        assert svc.head("promo").startswith(pr.head_commit or "-")  # Bitbucket gives it abbreviated
        record = svc.fake.prs(svc.repo)[0]
        assert (record.title, record.body) == ("Promote v2", "why")
        assert record.labels == (["gantry", "uat"] if svc.kind == "azure" else [])  # Bitbucket has no labels
        assert (await p.find_open_pr(source="promo", target="main")) == pr
        assert await p.find_open_pr(source="promo", target="clash") is None
        got = await p.get_pr(1)
        assert got.state == "open" and got.merge_commit is None
        assert got.mergeable is (True if svc.kind == "azure" else None)
        # opening it again (a lost answer, a retry) gives the same PR, not a second one
        again = await p.open_pr(source="promo", target="main", title="Promote v2", description="why", labels=[])
        assert again.id == 1 and len(svc.fake.prs(svc.repo)) == 1


async def test_find_reads_every_page(svc: Service) -> None:
    for n in range(1, 6):
        svc.fake.open(svc.repo, f"b{n}", "main", f"PR from b{n}")
    async with svc.provider() as p:
        p.page_size = 2  # type: ignore[attr-defined]
        before = len(svc.fake.requests)
        listed = await p.list_open_prs(target="main")  # type: ignore[attr-defined]
        assert sorted(pr.source_branch for pr in listed) == ["b1", "b2", "b3", "b4", "b5"]
        assert len(svc.fake.requests) - before == 3  # 2 + 2 + 1
        found = await p.find_open_pr(source="b1", target="main")
        assert found is not None and found.id == 1


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_merge_each_method(svc: Service, method: str) -> None:
    async with svc.provider() as p:
        pr = await p.open_pr(source="promo", target="main", title="Promote v2", description="", labels=[])
        merged = await p.merge_pr(pr.id, method=method)  # type: ignore[arg-type]
        assert merged.state == "merged" and merged.closed_by == "Gantry Bot"
        assert merged.merge_commit == svc.head("main")  # the real commit, full length
        assert (await p.get_pr(pr.id)).merge_commit == svc.head("main")
    parents = svc.git("rev-list", "--parents", "-n1", "main").split()[1:]
    assert svc.git("show", "main:app.yaml") == "image: v2" and svc.git("show", "main:README") == "readme v2"
    subjects = svc.git("log", "--format=%s", "main").splitlines()
    if method == "merge":
        assert parents[1] == svc.head("promo")
    else:  # one new commit on top of main's own, not promo's commit itself
        assert len(parents) == 1 and svc.head("promo") not in svc.git("rev-list", "main").split()
        assert subjects[1:] == ["Docs", "initial"]
    if method == "rebase":
        assert subjects[0] == "Promote app to v2"


async def test_reviewer_merges_or_closes(svc: Service) -> None:
    async with svc.provider() as p:
        first = await p.open_pr(source="promo", target="main", title="one", description="", labels=[])
        second = await p.open_pr(source="b1", target="clash", title="two", description="", labels=[])
        svc.fake.merge(svc.repo, first.id, by="alice")
        svc.fake.close(svc.repo, second.id, by="bob")
        merged, closed = await p.get_pr(first.id), await p.get_pr(second.id)
    assert (merged.state, merged.merge_commit, merged.closed_by) == ("merged", svc.head("main"), "alice")
    assert (closed.state, closed.merge_commit, closed.closed_by) == ("closed", None, "bob")
    async with svc.provider() as p:  # neither is the open PR between its branches any more
        assert await p.find_open_pr(source="promo", target="main") is None
        assert await p.find_open_pr(source="b1", target="clash") is None


async def test_conflicts_refuse_the_merge(svc: Service) -> None:
    main = svc.head("main")
    async with svc.provider() as p:
        pr = await p.open_pr(source="clash", target="main", title="clash", description="", labels=[])
        assert (await p.get_pr(pr.id)).mergeable is (False if svc.kind == "azure" else None)
        with pytest.raises(ProviderHTTPError) as e:
            await p.merge_pr(pr.id, method="merge")
    assert e.value.status == 409 and not e.value.rate_limited
    assert svc.head("main") == main and svc.fake.prs(svc.repo)[0].state == "open"


async def test_checks_running_then_mergeable(svc: Service) -> None:
    async with svc.provider() as p:
        pr = await p.open_pr(source="promo", target="main", title="v2", description="", labels=[])
        svc.fake.prs(svc.repo)[0].pending_checks = 1
        waiting = await p.merge_pr(pr.id)
        assert (waiting.state, waiting.mergeable) == ("open", None)
        assert svc.git("show", "main:app.yaml") == "image: v1"
        done = await p.merge_pr(pr.id)
    assert done.state == "merged" and done.merge_commit == svc.head("main")


async def test_no_or_wrong_token_is_401_without_the_token(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD")
    monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_URL")
    async with svc.provider() as p:
        with pytest.raises(ProviderHTTPError) as e:
            await p.get_pr(1)
    assert e.value.status == 401 and TOKEN not in str(e.value)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", svc.fake.base_url + "/")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "wrong-Xy7-token")
    async with svc.provider() as p:
        with pytest.raises(ProviderHTTPError) as e:
            await p.branch_exists("main")
    assert e.value.status == 401 and "wrong-Xy7-token" not in str(e.value) and TOKEN not in str(e.value)


async def test_username_credential_is_basic_auth(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a username the token goes as its basic-auth password (Bitbucket app passwords;
    Azure takes any user name with a PAT); without, Azure still uses basic auth (empty user)."""
    schemes: list[str] = []
    authorized = svc.fake.authorized

    def recording(headers: Any) -> bool:
        schemes.append((headers.get("Authorization") or "").split(" ")[0])
        return authorized(headers)

    svc.fake.authorized = recording  # type: ignore[method-assign]
    async with svc.provider() as p:
        assert await p.branch_exists("main")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", "bot")
    async with svc.provider() as p:
        assert await p.branch_exists("main")
    assert schemes == (["Basic", "Basic"] if svc.kind == "azure" else ["Bearer", "Basic"])


async def test_rate_limit_says_how_long(svc: Service) -> None:
    async with svc.provider() as p:
        svc.fake.rate_limit(1)
        with pytest.raises(ProviderHTTPError) as e:
            await p.find_open_pr(source="promo", target="main")
        assert e.value.status == 429 and e.value.rate_limited
        assert e.value.retry_after == (7.0 if svc.kind == "azure" else 5.0)
        assert await p.find_open_pr(source="promo", target="main") is None  # the next call goes through


async def test_bitbucket_next_link_elsewhere_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `next` link off the API base would carry the token elsewhere: refused."""

    class Elsewhere(BitbucketFake):
        def _list(self, repo: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
            status, headers, data = super()._list(repo, path, query)
            return status, headers, {**data, "next": "http://127.0.0.1:9/2.0/steal?page=2"}

    with Elsewhere(tmp_path / "srv", token=TOKEN) as fake:
        fake.add_repo("team/app", seed(tmp_path / "seed"))
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", fake.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", TOKEN)
        async with open_provider(fake.repo_url("team/app"), "bitbucket") as p:
            with pytest.raises(ProviderHTTPError) as e:
                await p.find_open_pr(source="promo", target="main")
    assert "not following" in str(e.value)


async def test_azure_sign_in_page_is_a_refused_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure DevOps may answer a missing PAT with 203 and a sign-in page, not 401."""

    class SignIn(AzureDevOpsFake):
        def unauthorized(self) -> tuple[int, dict[str, str], Any]:
            return 203, {}, "<html>Azure DevOps Services | Sign In</html>"

    with SignIn(tmp_path / "srv", token=TOKEN) as fake:
        fake.add_repo("org/proj/_git/app", seed(tmp_path / "seed"))
        monkeypatch.delenv("GANTRY_GIT_CREDENTIALS_1_URL", raising=False)
        async with open_provider(fake.repo_url("org/proj/_git/app"), "azure") as p:
            with pytest.raises(ProviderHTTPError) as e:
                await p.branch_exists("main")
    assert e.value.status == 401 and "sign-in page" in str(e.value)


async def test_web_urls_and_repository_paths() -> None:
    from activities.gitproviders.azure import AzureDevOpsProvider
    from activities.gitproviders.bitbucket import BitbucketProvider
    from pipeline.gitproviders import ProviderError, repo_ref

    for url, web in [
        ("https://dev.azure.com/org/My%20Project/_git/app", "https://dev.azure.com/org/My%20Project/_git/app/pullrequest/3"),
        ("https://org@dev.azure.com/org/proj/_git/app", "https://dev.azure.com/org/proj/_git/app/pullrequest/3"),
        ("https://org.visualstudio.com/proj/_git/app", "https://org.visualstudio.com/proj/_git/app/pullrequest/3"),
    ]:
        azure = AzureDevOpsProvider(repo_ref(url), None)
        assert azure.web_url(3) == web
        await azure.aclose()
    provider = BitbucketProvider(repo_ref("https://bitbucket.org/team/app.git"), None)
    assert (provider.repo.api, provider.workspace, provider.slug) == ("https://api.bitbucket.org/2.0", "team", "app")
    await provider.aclose()
    with pytest.raises(ProviderError, match="workspace"):
        BitbucketProvider(repo_ref("https://bitbucket.org/team/app/src/main"), None)


async def test_bitbucket_fast_forward_needs_an_ancestor(tmp_path: Path) -> None:
    """The fake refuses `fast_forward` once the destination moved on, as Bitbucket does:
    why the provider's rebase is `rebase_fast_forward`."""
    with BitbucketFake(tmp_path / "srv", token=TOKEN) as fake:
        fake.add_repo("team/app", seed(tmp_path / "seed"))
        fake.open("team/app", "promo", "main", "v2")
        url = f"{fake.base_url}/2.0/repositories/team/app/pullrequests/1/merge"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            refused = await client.post(url, json={"merge_strategy": "fast_forward"})
            assert refused.status_code == 400 and "Fast-forward" in refused.json()["error"]["message"]
            merged = await client.post(url, json={"merge_strategy": "rebase_fast_forward"})
        assert merged.status_code == 200 and merged.json()["state"] == "MERGED"


# -- the steps -----------------------------------------------------------------------


async def test_open_pr_step_is_idempotent(svc: Service, promo: str) -> None:
    cfg = svc.config(sourceBranch="promo", targetBranch="main", labels=["gantry"])
    first = await env.run(git_open_pr, step(promo, "git-open-pr", cfg))
    assert first.status == "Succeeded"
    assert first.outputs == {"pr": {"id": 1, "url": svc.web(1)}}
    again = await env.run(git_open_pr, step(promo, "git-open-pr", cfg))
    assert again.outputs == first.outputs and len(svc.fake.prs(svc.repo)) == 1
    # the title came from the commit the PR brings, read over git from the service
    assert svc.fake.prs(svc.repo)[0].title == "Promote app to v2"


async def test_wait_for_pr_step_until_merged(svc: Service, promo: str) -> None:
    opened = await env.run(git_open_pr, step(promo, "git-open-pr", svc.config(sourceBranch="promo", targetBranch="main", title="v2")))
    cfg = svc.config(prNumber=opened.outputs["pr"]["id"])
    waiting = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg))
    assert waiting.status == "Running" and waiting.outputs["pr"]["open"] is True
    svc.fake.merge(svc.repo, 1, by="alice")
    done = await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", cfg))
    assert done.status == "Succeeded"
    assert done.outputs["commit"] == svc.head("main") and done.outputs["pr"]["merged"] is True


async def test_wait_for_pr_step_fails_when_closed(svc: Service, promo: str) -> None:
    opened = await env.run(git_open_pr, step(promo, "git-open-pr", svc.config(sourceBranch="promo", targetBranch="main", title="v2")))
    svc.fake.close(svc.repo, opened.outputs["pr"]["id"], by="bob")
    with pytest.raises(ApplicationError) as e:
        await env.run(git_wait_for_pr, step(promo, "git-wait-for-pr", svc.config(prNumber=1)))
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert svc.web(1) in str(e.value) and "bob" in str(e.value)


async def test_merge_pr_step(svc: Service, promo: str) -> None:
    await env.run(git_open_pr, step(promo, "git-open-pr", svc.config(sourceBranch="promo", targetBranch="main", title="v2")))
    svc.fake.rate_limit(1)
    limited = await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1, mergeMethod="squash")))
    assert limited.status == "Running" and limited.poll_after == (7.0 if svc.kind == "azure" else 5.0)
    done = await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1, mergeMethod="squash")))
    assert done.status == "Succeeded" and done.outputs == {"commit": svc.head("main")}
    assert svc.git("show", "main:app.yaml") == "image: v2"
    again = await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1)))
    assert again.outputs == done.outputs  # already merged: the same commit


async def test_merge_pr_step_conflicts_fail(svc: Service, promo: str) -> None:
    await env.run(git_open_pr, step(promo, "git-open-pr", svc.config(sourceBranch="clash", targetBranch="main", title="clash")))
    with pytest.raises(ApplicationError) as e:
        await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1)))
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert ("conflicts" in str(e.value) or "409" in str(e.value)) and TOKEN not in str(e.value)
    assert svc.git("show", "main:README") == "readme v2"


async def test_merge_pr_step_waits_for_checks(svc: Service, promo: str) -> None:
    await env.run(git_open_pr, step(promo, "git-open-pr", svc.config(sourceBranch="promo", targetBranch="main", title="v2")))
    svc.fake.prs(svc.repo)[0].pending_checks = 2
    with pytest.raises(ApplicationError) as e:  # without wait: a failure that says why
        await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1)))
    assert e.value.type == STEP_FAILED and "not mergeable yet" in str(e.value)
    svc.fake.prs(svc.repo)[0].pending_checks = 2
    results = [await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1, wait=True)))]
    while results[-1].status == "Running" and len(results) < 4:
        assert svc.git("show", "main:app.yaml") == "image: v1"
        results.append(await env.run(git_merge_pr, step(promo, "git-merge-pr", svc.config(prNumber=1, wait=True))))
    assert results[0].status == "Running" and "mergeable" in (results[0].message or "")
    assert results[-1].status == "Succeeded" and results[-1].outputs == {"commit": svc.head("main")}
