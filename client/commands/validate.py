"""`gantry validate`: check manifests offline, with the same rules as apply (for CI)."""

from __future__ import annotations

from typing import Annotated

import typer

from client.manifests import load_paths
from pipeline.manifests import ManifestError, ManifestSet, validate_set

_PLURALS = {
    "Project": "Projects",
    "ProjectConfig": "ProjectConfigs",
    "Warehouse": "Warehouses",
    "Stage": "Stages",
    "PromotionTask": "PromotionTasks",
    "ClusterPromotionTask": "ClusterPromotionTasks",
    "AnalysisTemplate": "AnalysisTemplates",
    "ClusterAnalysisTemplate": "ClusterAnalysisTemplates",
    "Freight": "Freight",
}


def _count(n: int, kind: str) -> str:
    return f"{n} {kind if n == 1 else _PLURALS.get(kind, kind + 's')}"


def summary(ms: ManifestSet, freight: int, files: int) -> str:
    """'ok: 3 Stages, 1 Warehouse, 2 AnalysisTemplates in 2 files'."""
    parts = [_count(n, kind) for kind, n in ms.counts().items() if n]
    if freight:
        parts.append(_count(freight, "Freight"))
    what = ", ".join(parts) if parts else "no manifests"
    return f"ok: {what} in {files} file{'s' if files != 1 else ''}"


def validate(
    files: Annotated[
        list[str],
        typer.Option("-f", "--filename", help="a manifest file or directory (repeatable)"),
    ],
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="project for documents without metadata.namespace"),
    ] = None,
) -> None:
    """Validate Kargo manifests offline (no server): every document, then the set."""
    try:
        loaded = load_paths(files, default_project=project)
        merged = ManifestSet().merge(loaded.manifests)
        validate_set(merged)
    except ManifestError as err:
        for issue in err.issues:
            typer.echo(str(issue), err=True)
        n = len(err.issues)
        typer.echo(f"{n} error{'s' if n != 1 else ''}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(summary(merged, len(loaded.freight), len(loaded.files)))


def register(app: typer.Typer) -> None:
    """Add `validate` to the gantry CLI."""
    app.command("validate")(validate)
