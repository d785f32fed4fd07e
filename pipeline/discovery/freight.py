"""From one discovery pass to a Freight candidate (pure: the WarehouseWorkflow runs it).

Kargo's Automatic policy builds one Freight from the newest (first) artifact of every
subscription; `freightCreationCriteria.expression` (Kargo v1.8) may then refuse it. A
subscription that found nothing means no Freight this pass: a Freight must carry one
artifact of every subscription.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.expressions import ExpressionError, criteria_env, evaluate


class NoCandidate(Exception):
    """This pass makes no Freight; the message says why (it goes to the Warehouse status)."""


def freight_candidate(warehouse: str, discovered: dict[str, Any]) -> dict[str, Any]:
    """The Freight (flattened, as the catalog takes it) made of the newest of each subscription."""
    images, commits, charts = [], [], []
    for result in discovered.get("images") or []:
        refs = result.get("references") or []
        if not refs:
            raise NoCandidate(f"no image found in {result.get('repoURL')} that matches the subscription")
        image = {"repoURL": result["repoURL"], "tag": refs[0].get("tag"), "digest": refs[0].get("digest")}
        if refs[0].get("annotations"):
            image["annotations"] = refs[0]["annotations"]
        images.append({k: v for k, v in image.items() if v})
    for result in discovered.get("git") or []:
        found = result.get("commits") or []
        if not found:
            raise NoCandidate(f"no commit found in {result.get('repoURL')} that matches the subscription")
        c = found[0]
        commit = {
            "repoURL": result["repoURL"], "id": c.get("id"), "branch": c.get("branch") or result.get("branch"),
            "tag": c.get("tag"), "message": c.get("subject"), "author": c.get("author"), "committer": c.get("committer"),
        }  # fmt: skip
        commits.append({k: v for k, v in commit.items() if v})
    for result in discovered.get("charts") or []:
        versions = result.get("versions") or []
        if not versions:
            raise NoCandidate(f"no chart version found in {result.get('repoURL')} that matches the subscription")
        chart = {"repoURL": result["repoURL"], "name": result.get("name"), "version": versions[0]}
        charts.append({k: v for k, v in chart.items() if v})
    return {"origin": {"kind": "Warehouse", "name": warehouse}, "images": images, "commits": commits, "charts": charts}


def check_criteria(expression: str | None, discovered: dict[str, Any], now: datetime | None = None) -> None:
    """Raise NoCandidate unless the creation criteria accept this pass's artifacts; `now` is
    what now() returns (the workflow's time)."""
    if not expression or not expression.strip():
        return
    try:
        verdict = evaluate(expression.strip(), criteria_env(discovered, now=now))
    except ExpressionError as err:
        raise NoCandidate(f"spec.freightCreationCriteria.expression: {err}") from None
    if not isinstance(verdict, bool):
        raise NoCandidate(
            f"spec.freightCreationCriteria.expression must be a bool, got {type(verdict).__name__} {verdict!r}"
        )
    if not verdict:
        raise NoCandidate(f"freight creation criteria not met: {expression.strip()} is false")
