"""Kargo's rules for how a step is retried, polled and judged, as pure functions.

- `retry.errorThreshold` counts *consecutive* errors; 0 or unset falls back to the step's
  default, then to 1 (Kargo `pkg/promotion/registry.go`).
- `retry.timeout` is soft: measured from the step's first start, checked after each run;
  unset falls back to the step's default, then to none.
- A promotion's phase is its worst step phase, steps with continueOnError aside:
  Succeeded = Skipped < Running < Aborted < Failed < Errored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pipeline.durations import parse_duration

#: Kargo's per-step defaults (errorThreshold, timeout).
STEP_DEFAULTS: dict[str, tuple[int, timedelta | None]] = {
    "argocd-update": (1, timedelta(minutes=5)),
    "argocd-wait": (1, timedelta(minutes=5)),
}

#: How long a step that answered Running waits before it is asked again.
DEFAULT_POLL = timedelta(seconds=30)
POLL_DEFAULTS: dict[str, timedelta] = {
    "argocd-update": timedelta(seconds=10),
    "argocd-wait": timedelta(seconds=10),
    "http": timedelta(seconds=30),
    "git-wait-for-pr": timedelta(seconds=30),
}
MIN_POLL = timedelta(seconds=1)

#: Steps that change something outside the working directory: a dry run skips them.
OUTWARD_STEPS = {
    "git-push", "github-push", "git-open-pr", "git-merge-pr", "git-wait-for-pr", "argocd-update",
    "argocd-wait", "http", "oci-push", "set-freight-alias", "set-metadata", "send-message",
}  # fmt: skip

_RANK = {"Pending": 0, "Succeeded": 0, "Skipped": 0, "Running": 1, "Aborted": 2, "Failed": 3, "Errored": 4}


def error_threshold(uses: str, retry: dict[str, Any] | None) -> int:
    configured = (retry or {}).get("errorThreshold") or 0
    return int(configured) or STEP_DEFAULTS.get(uses, (1, None))[0] or 1


def step_timeout(uses: str, retry: dict[str, Any] | None) -> timedelta | None:
    configured = (retry or {}).get("timeout")
    if configured:
        return parse_duration(str(configured))
    return STEP_DEFAULTS.get(uses, (1, None))[1]


def poll_interval(uses: str, config: dict[str, Any]) -> timedelta:
    configured = config.get("pollInterval") if isinstance(config, dict) else None
    if configured:
        try:
            return max(parse_duration(str(configured)), MIN_POLL)
        except ValueError:
            pass
    return POLL_DEFAULTS.get(uses, DEFAULT_POLL)


def next_poll(uses: str, config: dict[str, Any], asked_seconds: float | None) -> timedelta:
    """The wait before asking a Running step again: its poll interval, or longer when the
    step asked for more (a provider's rate limit)."""
    interval = poll_interval(uses, config)
    if asked_seconds is not None and asked_seconds > interval.total_seconds():
        return timedelta(seconds=asked_seconds)
    return interval


def error_backoff(consecutive_errors: int) -> timedelta:
    """Wait before trying an errored step again: 2 s, 4 s, 8 s ... at most a minute."""
    return timedelta(seconds=min(2 ** max(consecutive_errors, 1), 60))


def worst_phase(phases: list[str]) -> str:
    """The promotion's phase from its counted steps' phases (all skipped: Succeeded)."""
    worst = "Succeeded"
    for phase in phases:
        if _RANK.get(phase, 0) > _RANK.get(worst, 0):
            worst = phase
    return worst
