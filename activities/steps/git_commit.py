"""`git-commit`: stage everything in a checkout and commit it.

Signed with ``author.signingKey`` when set, else with the key git-clone's
``author.signingKey`` gave the checkout (activities.git_signing).

Idempotent under retry: a retried step finds its earlier commit already made and the
tree clean, so it commits nothing and returns HEAD, which is that commit.
"""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.git_ops import Git, GitError, author_env, resolve_author
from activities.git_signing import clone_key, commit
from activities.steps._common import git_arg, git_failure, open_repo, typed_config
from activities.steps._safe_paths import TMP_GLOB
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir, step_failed
from contracts.step_configs.git_commit import GitCommitConfig


def _match(input: StepInput, name: str) -> list[str]:
    # Steps inflated from a PromotionTask carry "<task alias>::<step alias>" aliases;
    # a name written inside the task means the step of the same task.
    ns = input.alias.rsplit("::", 1)[0] + "::" if "::" in input.alias else ""
    known = [s.alias for s in input.steps] + [a for a in input.outputs if a not in {s.alias for s in input.steps}]
    for alias in (ns + name, name) if ns else (name,):
        if alias in known:
            return [alias]
    same_ns = [s.alias for s in input.steps if s.uses == name and s.alias.startswith(ns)]
    return same_ns or [s.alias for s in input.steps if s.uses == name]


def message_from_steps(input: StepInput, names: list[str]) -> str:
    """Join the ``commitMessage`` outputs of the named steps. A name matches a step's
    alias first, else every step with that ``uses`` (the seed's ``- kustomize-set-image``)."""
    parts: list[str] = []
    for i, name in enumerate(names):
        aliases = _match(input, name)
        if not aliases:
            raise step_failed(f"config field 'messageFromSteps[{i}]': no step has alias or name {name!r}")
        for alias in aliases:
            msg = (input.outputs.get(alias) or {}).get("commitMessage")
            if isinstance(msg, str) and msg.strip() and msg.strip() not in parts:
                parts.append(msg.strip())
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return f"Gantry applied {len(parts)} changes\n\n" + "\n\n".join(parts)


def build_message(input: StepInput, config: GitCommitConfig) -> str:
    message = config.message or ""
    if config.message_from_steps:
        message = message_from_steps(input, config.message_from_steps)
    if not message.strip():
        message = f"Promote to {input.stage} ({input.promotion})"
    return message


def _git_dir(g: Git) -> Path:
    return g.plain_git_dir() or Path(g.out("rev-parse", "--absolute-git-dir"))


def _commit(base: Path, config: GitCommitConfig, message: str) -> tuple[str, bool]:
    path = git_arg(config.path, "path")
    author = config.author.model_dump(include={"name", "email"}) if config.author else None
    g = open_repo(base, path)
    try:
        # the whole tree, but no temporary file of a step whose worker was killed mid-write
        g.run("add", "--all", "--", ":(top)", f":(top,exclude,glob)**/{TMP_GLOB}")
        key = config.author.signing_key if config.author and config.author.signing_key else clone_key(_git_dir(g))
        try:
            commit(g, key, base, "--quiet", "--no-verify", "-m", message, env=author_env(*resolve_author(author, g)))
        except GitError as e:  # nothing staged: a retry that committed already, or no change
            if "nothing to commit" not in e.output and "nothing added to commit" not in e.output:
                raise
            return g.head() or "", False
        return g.head() or g.out("rev-parse", "HEAD"), True
    except GitError as e:
        raise git_failure(e, f"git-commit in config field 'path' {path!r}") from None


@activity.defn(name="git-commit")
async def git_commit(input: StepInput) -> StepResult:
    """Commit all changes under ``path``; output ``commit`` (HEAD when nothing changed)."""
    config = typed_config(GitCommitConfig, input)
    base = require_workdir(input.promotion)
    message = build_message(input, config)
    sha, made = await run_leased(base, _commit, base, config, message)
    if not made:
        activity.logger.info("git-commit: nothing to commit in %s, HEAD is %s", config.path, sha)
        return StepResult(outputs={"commit": sha}, message="nothing to commit")
    activity.logger.info("git-commit: committed %s in %s", sha, config.path)
    return StepResult(outputs={"commit": sha})
