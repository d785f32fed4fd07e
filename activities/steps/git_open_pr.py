"""`git-open-pr`: open a pull request from `sourceBranch` into `targetBranch`.

Idempotent: an open PR between the two branches is the one this step opened before (a retry,
a resumed step, a worker lost after the API call), so it is returned instead of opening a
second. Without `title` the title is made from the commit messages the PR brings, as Kargo
does; `createTargetBranch` pushes an empty orphan branch when the target does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from temporalio import activity

from activities.git_ops import Git, GitError, remote_branch_sha
from activities.gitproviders import ProviderHTTPError
from activities.steps._common import checked_repo_url, git_arg, git_failure, typed_config
from activities.steps._pr import provider_for, refused, unreachable
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir, step_failed
from contracts.step_configs.git_open_pr import GitOpenPRConfig

TITLE_LIMIT = 250


def _scratch(base: Path, repo_url: str) -> Git:
    """A bare repository of the step's own in the working directory, for fetches and pushes
    that need no checkout."""
    scratch = base / ".gantry-pr"
    g = Git(cwd=None, url=repo_url, git_dir=scratch)
    if not scratch.exists():
        g.run("init", "--quiet", "--bare", str(scratch))
    return g


def _commit_subjects(base: Path, repo_url: str, source: str, target: str) -> list[str]:
    """The subjects of the commits on `source` that `target` lacks (a blobless fetch)."""
    g = _scratch(base, repo_url)
    g.run("fetch", "--quiet", "--filter=blob:none", repo_url, f"+refs/heads/{source}:refs/pr/source", f"+refs/heads/{target}:refs/pr/target")
    out = g.out("log", "--format=%s", "refs/pr/target..refs/pr/source")
    return [line.strip() for line in out.splitlines() if line.strip()]


def generated_title(subjects: list[str], source: str, target: str) -> str:
    """One commit: its subject; several: the newest and how many more; none: the branches."""
    if not subjects:
        return f"Promote {source} into {target}"
    more = len(subjects) - 1
    title = subjects[0] if not more else f"{subjects[0]} (and {more} more commit{'s' if more > 1 else ''})"
    return title[:TITLE_LIMIT]


def _config(config: GitOpenPRConfig) -> dict[str, Any]:
    return {
        "repo_url": checked_repo_url(config.repo_url),
        "source": git_arg(config.source_branch, "sourceBranch"),
        "target": git_arg(config.target_branch, "targetBranch"),
        "title": config.title or "",
        "description": config.description or "",
        "labels": list(config.labels or []),
        "create_target": config.create_target_branch,
    }


@activity.defn(name="git-open-pr")
async def git_open_pr(input: StepInput) -> StepResult:
    """Open (or find) the PR; outputs `pr.id` and `pr.url`."""
    config = typed_config(GitOpenPRConfig, input)
    base = require_workdir(input.promotion)
    c = _config(config)
    what = f"git-open-pr {c['source']} -> {c['target']}"
    async with provider_for(config) as provider:
        try:
            pr = await provider.find_open_pr(source=c["source"], target=c["target"])
            if pr is None:
                if not await provider.branch_exists(c["source"]):
                    raise step_failed(f"config field 'sourceBranch': branch {c['source']!r} does not exist in the repository")
                if not await provider.branch_exists(c["target"]):
                    if not c["create_target"]:
                        raise step_failed(
                            f"config field 'targetBranch': branch {c['target']!r} does not exist in the repository "
                            "(set createTargetBranch: true to create it)"
                        )
                    try:
                        await run_leased(base, _push_orphan, base, c["repo_url"], c["target"])
                    except GitError as e:
                        raise git_failure(e, f"{what}: creating branch {c['target']!r}") from None
                title = c["title"]
                if not title:
                    try:
                        subjects = await run_leased(base, _commit_subjects, base, c["repo_url"], c["source"], c["target"])
                    except GitError as e:
                        raise git_failure(e, f"{what}: reading the commits for the title") from None
                    title = generated_title(subjects, c["source"], c["target"])
                pr = await provider.open_pr(
                    source=c["source"], target=c["target"], title=title, description=c["description"], labels=c["labels"]
                )
                activity.logger.info("git-open-pr: opened %s", pr.url)
            else:
                activity.logger.info("git-open-pr: %s is already open", pr.url)
        except ProviderHTTPError as err:
            return refused(err, what)
        except httpx.HTTPError as err:
            raise unreachable(err, what) from None
    return StepResult(outputs={"pr": {"id": pr.id, "url": pr.url}}, message=f"pull request {pr.url}")


def _push_orphan(base: Path, repo_url: str, branch: str) -> None:
    """An empty orphan commit pushed as `branch`, unless someone created it meanwhile."""
    g = _scratch(base, repo_url)
    if remote_branch_sha(g, repo_url, branch):
        return
    tree = g.out("hash-object", "-w", "-t", "tree", "/dev/null")  # the empty tree
    commit = g.out(
        "commit-tree", tree, "-m", f"Create branch {branch}",
        extra_env={"GIT_AUTHOR_NAME": "Gantry", "GIT_AUTHOR_EMAIL": "gantry@localhost",
                   "GIT_COMMITTER_NAME": "Gantry", "GIT_COMMITTER_EMAIL": "gantry@localhost"},
    )  # fmt: skip
    g.run("push", "--quiet", repo_url, f"{commit}:refs/heads/{branch}")
