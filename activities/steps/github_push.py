"""`github-push`: push a checkout's commits to a GitHub branch through GitHub's REST API, so
that GitHub makes (and, where it may, signs) the commits: Kargo's drop-in replacement for
``git-push`` when branch protection asks for verified commits.

As Kargo does it, up to ``maxAttempts`` (default 10) times:

1. integrate the remote branch's new commits (rebase, as ``git-push`` does; a conflict fails
   the step), unless ``force``;
2. push HEAD to a hidden staging ref ``refs/kargo/staging/<promotion>`` (plain git, the
   repository's stored git credential);
3. compare the target branch (or, when it does not exist yet, the checked-out branch) with
   HEAD (``GET .../compare/{base}...{head}``): identical is done; behind or diverged without
   ``force`` integrates again;
4. replay each commit (at most ``GANTRY_GITHUB_PUSH_MAX_REVISIONS``, default 10) with
   ``POST .../git/commits``, same tree and message. A commit signed by a trusted key (git's
   ``%G?`` is ``G``), or any commit when ``GANTRY_GITHUB_PUSH_VERIFY_UNTRUSTED_COMMITS`` is
   true, is sent without author and committer, so GitHub attributes it to the token's user
   and signs it; its author, when not the signer, is kept as a ``Co-authored-by:`` trailer.
   Others keep their author and committer;
5. move the branch (``PATCH .../git/refs/heads/{branch}``, ``force`` as configured; a 422
   "not a fast forward" integrates again) or create it (``POST .../git/refs``);
6. delete the staging ref, and reset the checkout to the new branch head.

``generateTargetBranch`` pushes (forced) to ``kargo/promotion/<promotion>``. The token is the
password of the repository's stored git credential (an SSH key cannot call the API).
Outputs, as ``git-push``: ``branch``, ``commit``, ``commitURL``.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.credentials import Credentials
from activities.heartbeat import heartbeating
from activities.git_ops import Git, GitError, is_ancestor, resolve_author
from activities.gitproviders import api
from activities.gitproviders.base import ProviderHTTPError
from activities.steps._common import git_failure, open_repo
from activities.steps._typed_config import typed_config
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed
from activities.steps.git_push import generated_branch
from contracts.step_configs.github_push import GitHubPushConfig
from pipeline.gitproviders import ProviderError, RepoRef, repo_ref

STAGING_PREFIX = "refs/kargo/staging"
ENV_MAX_REVISIONS = "GANTRY_GITHUB_PUSH_MAX_REVISIONS"
ENV_VERIFY_UNTRUSTED = "GANTRY_GITHUB_PUSH_VERIFY_UNTRUSTED_COMMITS"
DEFAULT_MAX_REVISIONS = 10


class _Again(Exception):
    """The branch moved meanwhile: integrate and try again."""


def _max_revisions() -> int:
    try:
        return max(1, int(os.environ.get(ENV_MAX_REVISIONS, "") or DEFAULT_MAX_REVISIONS))
    except ValueError:
        return DEFAULT_MAX_REVISIONS


def _verify_untrusted() -> bool:
    return os.environ.get(ENV_VERIFY_UNTRUSTED, "").strip().lower() in ("1", "true", "yes")


class _GitHub:
    """The few Git database calls, with the token; errors carry GitHub's words."""

    def __init__(self, client: httpx.AsyncClient, repo: RepoRef, token: str) -> None:
        self.client, self.token = client, token
        self.base = f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}"

    async def call(self, method: str, path: str, what: str, json: Any = None, ok404: bool = False) -> Any:
        try:
            resp = await self.client.request(method, self.base + path, json=json)
        except httpx.HTTPError as e:
            raise ApplicationError(f"{what}: GitHub unreachable ({type(e).__name__})", type="GitHubError") from None
        if ok404 and resp.status_code == 404:
            return None
        try:
            api.check(resp, what)
        except ProviderHTTPError as err:
            text = str(err).replace(self.token, "***") if self.token else str(err)
            if err.status == 422 and method == "PATCH":
                raise _Again(text) from None
            if err.status >= 500 or err.status == 429 or err.retry_after is not None:
                raise ApplicationError(text, type="GitHubError") from None
            raise step_failed(text) from None
        return resp.json() if resp.content else None


def _signature(g: Git, sha: str) -> tuple[bool, str, str]:
    """(trusted, signer name, signer email) of a local commit, as git judges its signature."""
    out = g.out("log", "-1", "--format=%G?%x00%GS", sha)
    status, _, signer = out.partition("\0")
    name, _, email = signer.partition("<")
    return status.strip() == "G", name.strip(), email.rstrip(">").strip()


def _replay_body(g: Git, commit: dict[str, Any], parents: list[str], verify_untrusted: bool) -> dict[str, Any]:
    data = commit.get("commit") or {}
    tree = (data.get("tree") or {}).get("sha")
    if not tree:
        raise step_failed(f"GitHub compare: commit {commit.get('sha')} has no tree")
    body: dict[str, Any] = {"message": data.get("message") or "", "tree": tree, "parents": parents}
    trusted, signer, signer_email = _signature(g, str(commit["sha"]))
    if trusted or verify_untrusted:
        author = data.get("author") or {}
        name, email = author.get("name") or "", author.get("email") or ""
        if name and email and (name, email) != (signer, signer_email):
            body["message"] = f"{body['message']}\n\nCo-authored-by: {name} <{email}>"
    else:
        body["author"], body["committer"] = data.get("author"), data.get("committer")
    return body


def _integrate(g: Git, branch: str) -> None:
    """Rebase local commits onto the remote branch's new ones (nothing when it has none)."""
    tracking = f"refs/remotes/origin/{branch}"
    fetched = g.run("fetch", "--quiet", "origin", f"+refs/heads/{branch}:{tracking}", check=False)
    if fetched.returncode != 0:
        return  # no such remote branch yet: it will be created
    if is_ancestor(g, tracking, "HEAD"):
        return
    committer = resolve_author(None, g)
    env = {"GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]}
    r = g.run("rebase", "--quiet", tracking, extra_env=env, check=False)
    if r.returncode != 0:
        g.run("rebase", "--abort", check=False)
        raise step_failed(f"github-push to branch {branch!r}: rebasing onto the remote branch conflicts, "
                          f"it needs a manual resolution\n{(r.stdout + r.stderr).strip()}")


def _stage(g: Git, staging: str) -> tuple[str, str]:
    """Push HEAD to the staging ref; (HEAD, the checked-out branch)."""
    g.run("push", "--quiet", "--force", "origin", f"HEAD:{staging}")
    current = g.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    return g.out("rev-parse", "HEAD"), current


async def _attempt(root: Path, g: Git, hub: _GitHub, branch: str, force: bool, staging: str) -> None:
    if not force:
        await run_leased(root, _integrate, g, branch)
    head, current = await run_leased(root, _stage, g, staging)
    quoted = quote(branch, safe="/")
    target = await hub.call("GET", f"/git/ref/heads/{quoted}", f"reading branch {branch!r}", ok404=True)
    if target is None:
        if not current:
            raise step_failed(f"github-push: branch {branch!r} does not exist and the checkout is on no branch to start it from")
        base_ref = await hub.call("GET", f"/git/ref/heads/{quote(current, safe='/')}", f"reading branch {current!r}")
    else:
        base_ref = target
    base = base_ref["object"]["sha"]
    comparison = await hub.call("GET", f"/compare/{base}...{head}", f"comparing {base[:12]}...{head[:12]}")
    status = comparison.get("status")
    if status == "identical":
        if target is None:
            await hub.call("POST", "/git/refs", f"creating branch {branch!r}", json={"ref": f"refs/heads/{branch}", "sha": head})
        return
    if status in ("behind", "diverged") and not force:
        raise _Again(f"the checkout is {status} relative to branch {branch!r}")
    if status not in ("ahead", "behind", "diverged"):
        raise step_failed(f"github-push: unexpected comparison status {status!r} for {base}...{head}")
    commits = comparison.get("commits") or []
    limit = _max_revisions()
    if len(commits) > limit:
        raise step_failed(f"github-push: {len(commits)} commits to replay onto {branch!r}, more than the "
                          f"{limit} allowed ({ENV_MAX_REVISIONS})")
    new_head = (comparison.get("merge_base_commit") or {}).get("sha") or base
    mapped: dict[str, str] = {}
    verify_untrusted = _verify_untrusted()
    for commit in commits:
        originals = [p["sha"] for p in commit.get("parents") or []]
        parents = [new_head] if len(originals) <= 1 else [mapped.get(p, p) for p in originals]
        body = await run_blocking(_replay_body, g, commit, parents, verify_untrusted)
        created = await hub.call("POST", "/git/commits", f"replaying commit {commit['sha'][:12]}", json=body)
        mapped[commit["sha"]] = new_head = created["sha"]
        activity.heartbeat()
    if target is None:
        await hub.call("POST", "/git/refs", f"creating branch {branch!r}", json={"ref": f"refs/heads/{branch}", "sha": new_head})
    else:
        await hub.call("PATCH", f"/git/refs/heads/{quoted}", f"updating branch {branch!r}",
                       json={"sha": new_head, "force": force})


def _sync(g: Git, branch: str) -> str:
    """Reset the checkout to the branch as GitHub now has it (the replayed commits)."""
    tracking = f"refs/remotes/origin/{branch}"
    g.run("fetch", "--quiet", "origin", f"+refs/heads/{branch}:{tracking}")
    g.run("reset", "--quiet", "--hard", tracking)
    return g.out("rev-parse", "HEAD")


def _open(base: Path, config: GitHubPushConfig) -> tuple[Git, str]:
    g = open_repo(base, config.path)
    if not g.url:
        raise step_failed(f"config field 'path': {config.path!r} has no remote named origin")
    if not g.ok("rev-parse", "--verify", "--quiet", "HEAD"):
        raise step_failed(f"config field 'path': {config.path!r} has no commit to push")
    current = g.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    return g, current


def _token(g: Git, verify: bool) -> Credentials:
    creds = api.token_for(str(g.url), verify=verify)  # a credential refused for this TLS setting fails here
    if creds is None:
        raise step_failed(f"github-push: no git credential found for {g.url}")
    if not creds.password:
        raise step_failed(f"github-push: the git credential for {g.url} has no password or token; "
                          "an SSH key cannot call GitHub's API")
    return creds


@activity.defn(name="github-push")
async def github_push(input: StepInput) -> StepResult:
    """Replay the checkout's commits onto the target branch through GitHub's API."""
    config = typed_config(GitHubPushConfig, input)
    base = require_workdir(input.promotion)
    try:
        g, current = await run_leased(base, _open, base, config)
        verify = not config.insecure_skip_tls_verify
        creds = _token(g, verify)
        try:
            repo = repo_ref(str(g.url), "github")
        except ProviderError as e:
            raise step_failed(f"config field 'path': {e}") from None
        force = config.force
        if config.generate_target_branch:
            branch, force = generated_branch(input.promotion), True
        else:
            branch = config.target_branch or current
        if not branch:
            raise step_failed(f"config field 'targetBranch' is required: {config.path!r} is not on a branch")
        if not await run_blocking(g.ok, "check-ref-format", f"refs/heads/{branch}"):
            raise step_failed(f"config field 'targetBranch': {branch!r} is not a valid branch name")
        staging = f"{STAGING_PREFIX}/{generated_branch(input.promotion).rsplit('/', 1)[-1]}"
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": "gantry", "Authorization": f"Bearer {creds.password}"}
        attempts = config.max_attempts or 10
        async with api.client(repo, creds, headers, verify=verify) as client:
            hub = _GitHub(client, repo, creds.password)
            try:
                for attempt in range(1, attempts + 1):
                    try:
                        await _attempt(base, g, hub, branch, force, staging)
                        break
                    except _Again as again:
                        if attempt == attempts:
                            raise ApplicationError(f"github-push to branch {branch!r}: {again}; still so after "
                                                   f"{attempts} attempts (config field 'maxAttempts')", type="GitHubError") from None
                        activity.logger.info("github-push: %s (attempt %d/%d)", again, attempt, attempts)
                        await heartbeating(asyncio.sleep(min(30.0, 1.5 ** (attempt - 1)) * (0.5 + random.random())))
            finally:
                try:
                    await hub.call("DELETE", f"/git/refs/{staging.removeprefix('refs/')}", "deleting the staging ref", ok404=True)
                except Exception as e:  # the push itself succeeded or failed already; say so only
                    activity.logger.warning("github-push: could not delete %s: %s", staging, e)
        sha = await run_leased(base, _sync, g, branch)
    except GitError as e:
        raise git_failure(e, f"github-push from config field 'path' {config.path!r}") from None
    activity.logger.info("github-push: %s is at %s", branch, sha)
    return StepResult(outputs={"branch": branch, "commit": sha, "commitURL": f"{repo.origin}/{repo.path}/commit/{sha}"})
