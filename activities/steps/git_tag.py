"""`git-tag`: make an annotated tag at HEAD of a checkout.

Config as in Kargo: ``path``, ``tag``, ``message`` (all required) and ``force`` (move a
tag that exists at another commit). Output: ``commit``, the commit tagged (HEAD).
``git-push`` with ``tag`` pushes it.

Idempotent: a tag that already points at HEAD is left alone and the step succeeds, so a
retry after a successful attempt does not fail on "tag already exists".
"""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.git_ops import GitError, author_env, resolve_author
from activities.steps._common import git_arg, git_failure, open_repo, typed_config
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir, step_failed
from contracts.step_configs.git_tag import GitTagConfig


def _run(base: Path, config: GitTagConfig) -> tuple[str, bool]:
    path, tag = git_arg(config.path, "path"), git_arg(config.tag, "tag")
    message, force = config.message, config.force
    g = open_repo(base, path)
    if not g.ok("check-ref-format", f"refs/tags/{tag}"):
        raise step_failed(f"config field 'tag': {tag!r} is not a valid tag name")
    try:
        head = g.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
        if not head:
            raise step_failed(f"config field 'path': {path!r} has no commit to tag")
        existing = g.run("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False).stdout.strip()
        if existing == head:
            return head, False
        if existing and not force:
            raise step_failed(
                f"config field 'tag': tag {tag!r} already exists at {existing[:12]}, not at HEAD {head[:12]} "
                "(set 'force: true' to move it)"
            )
        args = ["tag", "-a", tag, "-m", message] + (["--force"] if force else [])
        g.run(*args, extra_env=author_env(*resolve_author(None, g)))
        return head, True
    except GitError as e:
        raise git_failure(e, f"git-tag {tag!r} in config field 'path' {path!r}") from None


@activity.defn(name="git-tag")
async def git_tag(input: StepInput) -> StepResult:
    """Tag HEAD of ``path`` with ``tag``; output ``commit``."""
    config = typed_config(GitTagConfig, input)
    base = require_workdir(input.promotion)
    sha, made = await run_leased(base, _run, base, config)
    activity.logger.info("git-tag: %s %s at %s", "created" if made else "kept", config.tag, sha)
    return StepResult(outputs={"commit": sha}, message="" if made else "tag already at HEAD")
