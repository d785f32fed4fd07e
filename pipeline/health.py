"""Kargo's implicit health rule for Argo CD Applications a promotion updated.

An Application counts as Healthy once it has reconciled after its last operation, its
health is Healthy and (where the promotion asked for one) the synced revision is the
desired one. Progressing and Suspended count as Progressing; anything else Unhealthy;
not yet reconciled is Unknown (Kargo `pkg/health/checker/builtin/argocd.go`).
"""

from __future__ import annotations

from typing import Any


def _synced_revisions(app: dict[str, Any]) -> list[str]:
    sync = (app.get("status") or {}).get("sync") or {}
    if sync.get("revisions"):
        return list(sync["revisions"])
    return [sync.get("revision") or ""]


def app_health(app: dict[str, Any], desired: list[str]) -> tuple[str, str]:
    """(Healthy | Progressing | Unhealthy | Unknown, reason) of one Application."""
    name = (app.get("metadata") or {}).get("name", "?")
    status = app.get("status") or {}
    operation = status.get("operationState") or {}
    if operation.get("phase") in ("Running", "Terminating"):
        return "Unknown", f"{name}: operation {operation.get('phase')}"
    reconciled, finished = status.get("reconciledAt"), operation.get("finishedAt")
    if finished and (not reconciled or reconciled < finished):
        return "Unknown", f"{name}: not reconciled since its last operation"
    health = (status.get("health") or {}).get("status") or "Unknown"
    if health in ("Progressing", "Suspended"):
        return "Progressing", f"{name}: health {health}"
    if health != "Healthy":
        return "Unhealthy", f"{name}: health {health}"
    synced = _synced_revisions(app)
    for i, want in enumerate(desired):
        if want and (i >= len(synced) or synced[i] != want):
            got = synced[i] if i < len(synced) else ""
            return "Progressing", f"{name}: synced to {got[:12] or 'nothing'}, waiting for {want[:12]}"
    return "Healthy", f"{name}: Healthy"


def overall(results: list[tuple[str, str]]) -> tuple[str, str]:
    """The worst of several Applications: Unhealthy > Unknown > Progressing > Healthy."""
    rank = {"Healthy": 0, "Progressing": 1, "Unknown": 2, "Unhealthy": 3}
    if not results:
        return "Healthy", "no Argo CD applications to check"
    worst = max(results, key=lambda r: rank.get(r[0], 3))
    return worst[0], "; ".join(reason for status, reason in results if status != "Healthy") or "all Healthy"
