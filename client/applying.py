"""Splitting loaded manifests into what each workflow receives on `gantry apply`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from client.manifests import LoadedManifests
from pipeline.manifests import load_sourced


@dataclass
class ApplyPlan:
    #: project name (None: cluster-scoped) -> SourceDocuments as JSON-able dicts
    documents: dict[str | None, list[dict[str, Any]]] = field(default_factory=dict)
    #: (project, flattened Freight) for the Freight catalog
    freight: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def plan_apply(loaded: LoadedManifests, default_project: str | None = None) -> ApplyPlan:
    plan = ApplyPlan()
    for doc in loaded.documents:
        item = load_sourced(doc, default_project)
        if item.kind == "Freight":
            freight = item.manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
            flat = {k: v for k, v in freight.items() if k in ("alias", "origin", "images", "commits", "charts")}
            if item.manifest.metadata.name:
                flat["name"] = item.manifest.metadata.name
            plan.freight.append((item.project or "", flat))
            continue
        plan.documents.setdefault(item.project, []).append(doc.model_dump(mode="json"))
    return plan
