"""The contract every promotion step activity follows.

A step is one Temporal activity whose activity type is the step's Kargo name
(``git-clone``, ``git-push``...), so Temporal Web shows one row per step. The
workflow renders ``${{ }}`` expressions before it calls the step: a step only
ever sees plain, final config values, and never credentials (those are looked
up inside the activity, see ``activities.credentials``).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from contracts.steps import STEP_FAILED, WORKDIR_LOST, StepInput, StepRef, StepResult, StepStatus

__all__ = ["STEP_FAILED", "WORKDIR_LOST", "StepInput", "StepRef", "StepResult", "StepStatus"]


# ---------------------------------------------------------------------------
# Helpers shared by the step modules.
# ---------------------------------------------------------------------------


T = TypeVar("T")


def step_failed(message: str) -> ApplicationError:
    """A terminal step failure: the promotion fails without retrying the step."""
    return ApplicationError(message, type=STEP_FAILED, non_retryable=True)


def work_root() -> Path:
    """Where promotions keep their working directories on this worker."""
    root = os.environ.get("GANTRY_WORK_DIR")
    if root:
        return Path(root)
    data = os.environ.get("GANTRY_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "gantry"
    )
    return Path(data) / "work"


def workdir(promotion: str) -> Path:
    """The working directory shared by every step of one promotion."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", promotion).strip("_") or "promotion"
    return work_root() / safe


def resolve_path(base: Path, relative: str, field: str = "path", *, follow_final: bool = True) -> Path:
    """Resolve a step's relative path inside the working directory, refusing escapes.

    Symbolic links are followed only while they stay inside the working directory; a
    link leading out, a ``.git`` component (any case, also through a link), a NUL byte
    or an absolute path is a terminal step failure naming ``field``
    (see ``activities.steps._safe_paths``)."""
    from activities.steps import _safe_paths

    return _safe_paths.resolve(base, relative, field, follow_final=follow_final)


async def run_blocking(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run blocking work (git, files) in a thread while heartbeating, so a worker that
    dies mid-step is noticed by its heartbeat timeout and the step is retried."""
    return await heartbeating(asyncio.to_thread(fn, *args, **kwargs))


MARKER = ".gantry-promotion"


def workdir_lost(promotion: str) -> ApplicationError:
    return ApplicationError(
        f"working directory of promotion {promotion} is not on this worker", type=WORKDIR_LOST, non_retryable=True
    )


def require_workdir(promotion: str) -> Path:
    """The promotion's working directory, which `claim_worker` made on this worker.

    If it is missing the promotion moved to another worker after its first one was lost:
    the workflow then starts its steps again from the first one.
    """
    path = workdir(promotion)
    if not (path / MARKER).is_file():
        raise workdir_lost(promotion)
    return path
