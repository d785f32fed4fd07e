"""`git-commit`: stage everything in a checkout and commit it.

Idempotent under retry: a retried step finds its earlier commit already made and the
tree clean, so it commits nothing and returns HEAD, which is that commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio import activity

from activities.git_ops import GitError, author_env, resolve_author
from activities.steps._common import get_git_str, get_list, get_str, git_failure, open_repo
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed


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


def message_from_steps(input: StepInput, names: list[Any]) -> str:
    """Join the ``commitMessage`` outputs of the named steps. A name matches a step's
    alias first, else every step with that ``uses`` (the seed's ``- kustomize-set-image``)."""
    parts: list[str] = []
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise step_failed(f"config field 'messageFromSteps[{i}]' must be a step alias or name")
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


def build_message(input: StepInput) -> str:
    config = input.config
    message = get_str(config, "message")
    names = get_list(config, "messageFromSteps")
    if message and names:
        raise step_failed("config fields 'message' and 'messageFromSteps': set one, not both")
    if names:
        message = message_from_steps(input, names)
    elif "message" not in config and "messageFromSteps" not in config:
        raise step_failed("config field 'message' is required (or 'messageFromSteps')")
    if not message.strip():
        message = f"Promote to {input.stage} ({input.promotion})"
    return message


def _commit(base: Path, config: dict[str, Any], message: str) -> tuple[str, bool]:
    path = get_git_str(config, "path", required=True)
    author = config.get("author")
    if author is not None and not isinstance(author, dict):
        raise step_failed("config field 'author' must be a mapping {name, email}")
    g = open_repo(base, path)
    try:
        g.run("add", "--all")
        if g.run("diff", "--cached", "--quiet", check=False).returncode == 0:
            head = g.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
            return head, False
        g.run("commit", "--quiet", "--no-verify", "-m", message, extra_env=author_env(*resolve_author(author, g)))
        return g.out("rev-parse", "HEAD"), True
    except GitError as e:
        raise git_failure(e, f"git-commit in config field 'path' {path!r}") from None


@activity.defn(name="git-commit")
async def git_commit(input: StepInput) -> StepResult:
    """Commit all changes under ``path``; output ``commit`` (HEAD when nothing changed)."""
    base = require_workdir(input.promotion)
    message = build_message(input)
    sha, made = await run_blocking(_commit, base, input.config, message)
    if not made:
        activity.logger.info("git-commit: nothing to commit in %s, HEAD is %s", input.config.get("path"), sha)
        return StepResult(outputs={"commit": sha}, message="nothing to commit")
    activity.logger.info("git-commit: committed %s in %s", sha, input.config.get("path"))
    return StepResult(outputs={"commit": sha})
