"""Small helpers the step modules share: typing a step's config, checking values that reach
git, mapping git errors."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from activities.git_ops import Git, GitError, check_remote_url
from activities.steps.base import StepInput, resolve_path, step_failed
from contracts.step_configs import ConfigError, StepConfig, parse_config

C = TypeVar("C", bound=StepConfig)


def typed_config(model: type[C], input: StepInput) -> C:
    """The step's rendered config checked by its model (the one ``validate`` used); a config
    it refuses fails the step at once, not retried, naming every bad field."""
    try:
        return parse_config(model, input.config, uses=input.uses)
    except ConfigError as e:
        raise step_failed(str(e)) from None


def git_arg(value: str, field: str) -> str:
    """A value that reaches git (a ref, commit, tag or path): one starting with ``-`` would be
    read as an option, so it is refused, naming the field."""
    if value.startswith("-"):
        raise step_failed(f"config field {field!r}: {value!r} starts with '-', which git would read as an option; refused")
    return value


def checked_repo_url(url: str, field: str = "repoURL") -> str:
    """The remote URL in ``field``, checked before git runs: not option-like, and a
    transport this worker allows (local repositories only when it allows them)."""
    try:
        check_remote_url(url)
    except GitError as e:
        raise step_failed(f"config field {field!r}: {e}") from None
    return url


def git_failure(e: GitError, what: str) -> Exception:
    """A terminal GitError becomes a step failure; anything else stays retryable."""
    if e.terminal:
        hint = {
            "auth": " (authentication failed: check the credentials for this URL)",
            "not_found": " (repository, branch or ref not found)",
            "conflict": " (merge conflict: needs a manual resolution)",
            "remote_rejected": " (the remote refused the update)",
        }.get(e.kind, "")
        return step_failed(f"{what}{hint}: {e}")
    return ApplicationError(f"{what}: {e}", type="GitError")


def open_repo(base: Path, path: str, field: str = "path") -> Git:
    """The git working tree at config field ``path`` (made by git-clone). A repository
    whose ``.git/config`` holds program-running or redirecting keys is refused here, as
    by every later git command (``Git.check_config``)."""
    if path.startswith("-"):
        raise step_failed(f"config field {field!r}: {path!r} starts with '-', which git would read as an option; refused")
    target = resolve_path(base, path, field)
    if not target.is_dir():
        raise step_failed(f"config field {field!r}: {path!r} does not exist in the working directory")
    g = Git(cwd=target)
    try:
        root = base.resolve()
        if g.plain_git_dir() is not None:
            top_path: Path | None = target.resolve()  # what `rev-parse --show-toplevel` says of it
        else:
            top = g.run("rev-parse", "--show-toplevel", check=False)
            top_path = Path(top.stdout.strip()).resolve() if top.returncode == 0 else None
        if top_path is None or (top_path != root and root not in top_path.parents):
            raise step_failed(f"config field {field!r}: {path!r} is not a git working tree (run git-clone first)")
        url = g.origin_url()
    except GitError as e:
        raise git_failure(e, f"config field {field!r} {path!r}") from None
    return Git(cwd=target, url=url or None)
