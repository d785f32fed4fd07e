"""`git-push`: push a checkout's HEAD to its remote branch (or a tag).

Safe to retry: pushing a commit the remote already has is a no-op, and when someone
else pushed first the commits are rebased onto the remote branch and pushed again,
up to ``maxAttempts`` times, as Kargo does. ``provider`` says which hosting provider's
shape ``commitURL`` has, as in Kargo (which uses it for nothing else).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.git_ops import (
    Git,
    GitError,
    classify,
    commit_url,
    is_ancestor,
    plain_branch_name,
    resolve_author,
    sanitize_ref_component,
)
from activities.steps._common import git_arg, git_failure, open_repo, typed_config
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir, step_failed
from contracts.step_configs.git_push import GitPushConfig


def generated_branch(promotion: str) -> str:
    """Kargo's name for a promotion's own branch: ``kargo/promotion/<promotion name>`` (the
    name, the last segment of the workflow id ``promotion/<project>/<stage>/<name>``)."""
    return f"kargo/promotion/{sanitize_ref_component(promotion.rsplit('/', 1)[-1])}"


def _push_tag(g: Git, tag: str, force: bool) -> str:
    if not g.ok("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"):
        g.run("tag", tag)  # lightweight, at HEAD (git-tag would have made an annotated one)
    sha = g.out("rev-parse", f"refs/tags/{tag}^{{commit}}")
    args = ["push", "origin", f"refs/tags/{tag}:refs/tags/{tag}"] + (["--force"] if force else [])
    r = g.run(*args, check=False)
    if r.returncode != 0:
        out = r.stdout + r.stderr
        if classify(out) in ("non_fast_forward", "remote_rejected"):
            remote = g.out("ls-remote", "--tags", "origin", f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}")
            shas = [line.split("\t")[0] for line in remote.splitlines()]
            if sha in shas:
                return sha  # our earlier attempt pushed it
            raise step_failed(f"config field 'tag': tag {tag!r} already exists on the remote at another commit")
        raise g.failure(tuple(args), r)  # with git's output
    return sha


def _push_branch(g: Git, branch: str, force: bool, attempts: int) -> str:
    tracking = f"refs/remotes/origin/{branch}"
    for attempt in range(1, attempts + 1):
        args = ["push", "origin", f"HEAD:refs/heads/{branch}"] + (["--force"] if force else [])
        r = g.run(*args, check=False)
        if r.returncode == 0:
            break
        out = (r.stdout + r.stderr).strip()
        if force or classify(out) != "non_fast_forward":
            raise g.failure(tuple(args), r)  # GitError with the output and its kind
        activity.logger.info("git-push: %s moved on the remote, integrating (attempt %d/%d)", branch, attempt, attempts)
        g.run("fetch", "--quiet", "origin", f"+refs/heads/{branch}:{tracking}")
        if is_ancestor(g, "HEAD", tracking):
            break  # the remote already has our commit: a retry after a successful push
        committer = resolve_author(None, g)
        env = {"GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]}
        r = g.run("rebase", "--quiet", tracking, extra_env=env, check=False)
        if r.returncode != 0:
            g.run("rebase", "--abort", check=False)
            raise step_failed(
                f"git-push to branch {branch!r}: rebasing onto the remote branch conflicts, "
                f"it needs a manual resolution\n{(r.stdout + r.stderr).strip()}"
            )
        if attempt == attempts:
            raise ApplicationError(
                f"git-push to branch {branch!r}: still rejected after {attempts} attempts (config field 'maxAttempts')",
                type="GitError",
            )
        time.sleep(min(30.0, 0.5 * 1.5 ** (attempt - 1)) * (0.5 + random.random()))
    return g.head() or g.out("rev-parse", "HEAD")


def _push(base: Path, config: GitPushConfig, promotion: str) -> dict[str, str]:
    path = git_arg(config.path, "path")
    target = git_arg(config.target_branch or "", "targetBranch")
    tag = git_arg(config.tag or "", "tag")
    generate, attempts, force = config.generate_target_branch, config.max_attempts, config.force
    g = open_repo(base, path)
    if not g.url:
        raise step_failed(f"config field 'path': {path!r} has no remote named origin")
    try:
        if g.head() is None:
            raise step_failed(f"config field 'path': {path!r} has no commit to push")
        if tag:
            sha = _push_tag(g, tag, force)
            return {"branch": "", "tag": tag, "commit": sha, "commitURL": commit_url(g.url, sha, config.provider)}
        if generate:
            # Promotion-specific, so overwriting it on a retried promotion is safe (as in Kargo).
            branch, force = generated_branch(promotion), True
        elif target:
            branch = target
        else:
            branch = g.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
            if not branch:
                raise step_failed(
                    f"config field 'targetBranch' is required: {path!r} is not on a branch (checked out by commit or tag)"
                )
        if not plain_branch_name(branch) and g.run("check-ref-format", f"refs/heads/{branch}", check=False).returncode != 0:
            raise step_failed(f"config field 'targetBranch': {branch!r} is not a valid branch name")
        sha = _push_branch(g, branch, force, attempts)
    except GitError as e:
        raise git_failure(e, f"git-push from config field 'path' {path!r}") from None
    return {"branch": branch, "commit": sha, "commitURL": commit_url(g.url, sha, config.provider)}


@activity.defn(name="git-push")
async def git_push(input: StepInput) -> StepResult:
    """Push HEAD of ``path``; output ``branch``, ``commit`` and ``commitURL``."""
    config = typed_config(GitPushConfig, input)
    base = require_workdir(input.promotion)
    outputs = await run_leased(base, _push, base, config, input.promotion)
    activity.logger.info("git-push: %s is at %s", outputs.get("branch") or outputs.get("tag"), outputs["commit"])
    return StepResult(outputs=outputs)
