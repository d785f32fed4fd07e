"""github-push against the loopback GitHub fake: commits replayed through the Git database
API onto the real bare repository, GitHub-signed when sent without author and committer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps.base import STEP_FAILED, workdir
from activities.steps.git_clone import git_clone
from activities.steps.git_commit import git_commit
from activities.steps.github_push import github_push
from tests.fakes.github import GitHubFake
from tests.gitrepos import git, promo, step, work_root  # noqa: F401

TOKEN = "ghp_s3cret-t0ken-for-github-push"
REPO = "org/deploy"
env = ActivityEnvironment()


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    seed = tmp_path / "seed"
    git("init", "-q", "-b", "main", str(seed))
    (seed / "app.yaml").write_text("image: app:1.0\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "initial layout", cwd=seed)
    with GitHubFake(tmp_path / "srv", token=TOKEN) as fake:
        fake.add_repo(REPO, seed)
        monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
        for var in ("GANTRY_GITHUB_PUSH_MAX_REVISIONS", "GANTRY_GITHUB_PUSH_VERIFY_UNTRUSTED_COMMITS"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", fake.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", TOKEN)
        yield fake


async def clone_and_commit(promo: str, gh: GitHubFake, files: dict[str, str], message: str = "bump app") -> Path:
    cfg = {"repoURL": gh.repo_url(REPO), "checkout": [{"branch": "main", "path": "./src"}]}
    await env.run(git_clone, step(promo, "git-clone", cfg))
    src = workdir(promo) / "src"
    for path, content in files.items():
        (src / path).write_text(content)
    await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": message}))
    return src


async def push(promo: str, cfg: dict):
    return await env.run(github_push, step(promo, "github-push", {"path": "./src", **cfg}))


def remote(gh: GitHubFake, *args: str) -> str:
    return git(*args, cwd=gh.bare(REPO))


async def test_commits_are_replayed_through_the_api(promo: str, gh: GitHubFake) -> None:
    src = await clone_and_commit(promo, gh, {"app.yaml": "image: app:1.1\n"})
    result = await push(promo, {"targetBranch": "main"})
    head = remote(gh, "rev-parse", "main")
    assert result.outputs == {"branch": "main", "commit": head, "commitURL": f"{gh.base_url}/{REPO}/commit/{head}"}
    # the commit was made through the API, not pushed (an unsigned commit keeps its author and
    # committer, so GitHub's copy may even be the local commit byte for byte, same id)
    assert ("POST", f"/api/v3/repos/{REPO}/git/commits") in gh.requests, gh.requests
    assert remote(gh, "rev-parse", "main^{tree}") == git("rev-parse", "HEAD^{tree}", cwd=src)
    assert remote(gh, "log", "-1", "--format=%s", "main") == "bump app"
    assert git("rev-parse", "HEAD", cwd=src) == head  # the checkout follows the remote
    # an unsigned commit keeps its author and is not signed by GitHub (Kargo's rule)
    assert head not in gh.verified
    assert not remote(gh, "for-each-ref", "refs/kargo")  # the staging ref is gone
    calls = [(m, p.split("/repos/org/deploy")[-1]) for m, p in gh.requests]
    assert ("POST", "/git/commits") in calls and any(m == "PATCH" for m, _ in calls)
    assert TOKEN not in result.model_dump_json()
    # again: identical, nothing to replay
    before = len(gh.requests)
    assert (await push(promo, {"targetBranch": "main"})).outputs["commit"] == head
    assert not any(m == "POST" and p.endswith("/git/commits") for m, p in gh.requests[before:])


async def test_untrusted_commits_verified_by_operator_choice(promo: str, gh: GitHubFake, monkeypatch) -> None:
    monkeypatch.setenv("GANTRY_GITHUB_PUSH_VERIFY_UNTRUSTED_COMMITS", "true")
    await clone_and_commit(promo, gh, {"app.yaml": "image: app:2.0\n"})
    result = await push(promo, {"generateTargetBranch": True})
    branch = result.outputs["branch"]
    assert branch.startswith("kargo/promotion/")
    head = remote(gh, "rev-parse", branch)
    assert head in gh.verified  # sent without author/committer: GitHub signed it
    assert remote(gh, "log", "-1", "--format=%an", branch) == gh.login
    assert "Co-authored-by: " in remote(gh, "log", "-1", "--format=%B", branch)


async def test_someone_else_pushed_first_is_integrated(promo: str, gh: GitHubFake, tmp_path: Path) -> None:
    src = await clone_and_commit(promo, gh, {"app.yaml": "image: app:1.1\n"})
    other = tmp_path / "other"
    git("clone", "-q", str(gh.bare(REPO)), str(other))
    (other / "README").write_text("hello\n")
    git("add", "-A", cwd=other)
    git("commit", "-q", "-m", "someone else", cwd=other)
    git("push", "-q", "origin", "main", cwd=other)
    await push(promo, {"targetBranch": "main"})
    assert remote(gh, "log", "--format=%s", "main").splitlines() == ["bump app", "someone else", "initial layout"]
    assert git("show", "HEAD:README", cwd=src) == "hello"


async def test_refusals(promo: str, gh: GitHubFake, monkeypatch) -> None:
    await clone_and_commit(promo, gh, {"app.yaml": "image: app:3.0\n"})
    with pytest.raises(ApplicationError) as info:
        await push(promo, {"targetBranch": "main", "generateTargetBranch": True})
    assert info.value.type == STEP_FAILED and "mutually exclusive" in str(info.value)
    with pytest.raises(ApplicationError) as info:
        await push(promo, {"targetBrnach": "main"})
    assert "did you mean 'targetBranch'?" in str(info.value)
    monkeypatch.setenv("GANTRY_GITHUB_PUSH_MAX_REVISIONS", "1")
    src = workdir(promo) / "src"
    (src / "more.txt").write_text("x\n")
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "second", cwd=src)
    with pytest.raises(ApplicationError) as info:
        await push(promo, {"targetBranch": "main"})
    assert info.value.type == STEP_FAILED and "2 commits to replay onto 'main', more than the 1 allowed" in str(info.value)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "wrong")
    with pytest.raises(ApplicationError) as info:
        await push(promo, {"targetBranch": "main"})
    assert info.value.type == STEP_FAILED and "HTTP 401" in str(info.value) and "wrong" not in str(info.value)


class _SignedBy:
    """A checkout whose commits git reports as signed (``%G?`` = ``G``) by ``signer``."""

    def __init__(self, status: str, signer: str) -> None:
        self.status, self.signer = status, signer

    def out(self, *args: str) -> str:
        return f"{self.status}\0{self.signer}"


def test_kargo_attribution_rules() -> None:
    from activities.steps.github_push import _replay_body

    author = {"name": "Dev", "email": "dev@example.com", "date": "2024-01-01T00:00:00Z"}
    commit = {"sha": "a" * 40, "commit": {"message": "bump", "tree": {"sha": "t" * 40}, "author": author, "committer": author}}
    # trusted, signed by someone else: no author/committer (GitHub signs), the author as co-author
    body = _replay_body(_SignedBy("G", "Kargo <kargo@example.com>"), commit, ["p"], False)
    assert body == {"message": "bump\n\nCo-authored-by: Dev <dev@example.com>", "tree": "t" * 40, "parents": ["p"]}
    # trusted and signed by the author: no trailer
    assert _replay_body(_SignedBy("G", "Dev <dev@example.com>"), commit, ["p"], False)["message"] == "bump"
    # not trusted (unsigned, bad or unknown key): author and committer kept, GitHub does not sign
    for status in ("N", "B", "U", "E"):
        body = _replay_body(_SignedBy(status, ""), commit, ["p"], False)
        assert body["author"] == author and body["committer"] == author
