"""`git-clear`: empty the working tree of a checkout, keeping ``.git``.

As in Kargo the removals go through git (``git add --all`` then ``git rm -r -f .``), so
they are staged for the next ``git-commit``. Unlike Kargo, files git ignores are removed
too: after this step nothing but ``.git`` is left under ``path``.

Idempotent: clearing an empty tree again changes nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from temporalio import activity

from activities.git_ops import GitError
from activities.steps._common import git_arg, git_failure, open_repo, typed_config
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir
from contracts.step_configs.git_clear import GitClearConfig


def _run(base: Path, config: GitClearConfig) -> int:
    path = git_arg(config.path, "path")
    g = open_repo(base, path)
    assert g.cwd is not None
    try:
        g.run("add", "--all", ".")
        g.run("rm", "-r", "-f", "-q", "--ignore-unmatch", ".")
    except GitError as e:
        raise git_failure(e, f"git-clear in config field 'path' {path!r}") from None
    left = 0
    for entry in os.scandir(g.cwd):
        if entry.name == ".git":
            continue
        left += 1
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    return left


@activity.defn(name="git-clear")
async def git_clear(input: StepInput) -> StepResult:
    """Remove everything but ``.git`` from the checkout at ``path``."""
    config = typed_config(GitClearConfig, input)
    base = require_workdir(input.promotion)
    await run_leased(base, _run, base, config)
    activity.logger.info("git-clear: cleared %s", config.path)
    return StepResult()
