"""The implicit verification of a Stage whose promotion ran argocd-update: reads each
Application from Argo CD and judges it with `pipeline.health`. One look per call; the
workflow polls on durable timers."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.steps.argocd_update import _NotFound, connect
from pipeline.health import app_health, overall


@activity.defn(name="argocd-health")
async def argocd_health(checks: list[dict[str, Any]]) -> dict[str, str]:
    """`checks`: the `healthCheck.apps` outputs of argocd-update steps."""
    results: list[tuple[str, str]] = []
    async with connect(timeout=30) as api:
        for check in checks:
            name, namespace = check.get("name", ""), check.get("namespace") or "argocd"
            try:
                app = await api.get(name, namespace)
            except _NotFound:
                results.append(("Unhealthy", f"{name}: not found in Argo CD"))
                continue
            desired = check.get("desiredRevisions") or ([check["desiredRevision"]] if check.get("desiredRevision") else [])
            results.append(app_health(app, desired))
    status, message = overall(results)
    return {"status": status, "message": message}
