"""The non-terminal output of `promote --wait` (client/progress.py): one line per step change,
a Running line before the outcome of a step that ran, none for a Skipped one, messages on
one line."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from client.progress import _Lines, detach_hint, elapsed  # noqa: E402
from workflows.messages import PromotionStatus, StepExecution  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def status(*steps: StepExecution) -> PromotionStatus:
    return PromotionStatus(name="dev.x", project="p", stage="dev", freight="f", phase="Running", steps=list(steps))


def test_lines_per_step_change(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _Lines()
    clone = StepExecution(alias="step-1", uses="git-clone", status="Running", started_at=T0)
    build = StepExecution(alias="build-image", uses="kustomize-build")
    push = StepExecution(alias="step-3", uses="git-push")
    lines.update(status(clone, build, push))
    lines.update(status(clone, build, push))  # nothing changed: nothing printed
    clone = clone.model_copy(update={"status": "Failed", "finished_at": T0 + timedelta(seconds=1.25),
                                     "message": "git-clone of x: exit 128\nfatal: not a repository\n"})  # fmt: skip
    build = build.model_copy(update={"status": "Skipped", "started_at": T0 + timedelta(seconds=2), "finished_at": T0 + timedelta(seconds=2)})
    lines.update(status(clone, build, push))
    assert capsys.readouterr().out.splitlines() == [
        "  1. step-1 (git-clone): Running",
        "  1. step-1 (git-clone): Failed in 1.2s (git-clone of x: exit 128 / fatal: not a repository)",
        "  2. build-image (kustomize-build): Skipped",
    ]


def test_a_step_that_ran_between_two_looks_gets_its_running_line(capsys: pytest.CaptureFixture[str]) -> None:
    done = StepExecution(alias="a", uses="git-push", status="Succeeded", started_at=T0, finished_at=T0 + timedelta(seconds=75))
    _Lines().update(status(done))
    assert capsys.readouterr().out.splitlines() == ["  1. a (git-push): Running", "  1. a (git-push): Succeeded in 1m15s"]


def test_elapsed_and_the_detach_hint() -> None:
    assert [elapsed(s) for s in (0.04, 9.96, 42, 185, 3725)] == ["0.0s", "10.0s", "42s", "3m05s", "1h02m"]
    assert detach_hint("promotion/shop/dev/dev.123.abc") == [
        "stopped watching; promotion dev.123.abc continues.",
        "  watch it again: gantry get promotion dev.123.abc -p shop --watch",
        "  abort it:       gantry promote -p shop --abort dev.123.abc",
    ]
