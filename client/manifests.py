"""Reading manifest files and directories from disk (the I/O half of pipeline.manifests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.manifests import (
    ManifestError,
    ManifestIssue,
    ManifestSet,
    SourceDocument,
    SourcedManifest,
    load_sourced,
    parse_documents,
    validate_set,
)

__all__ = ["LoadedManifests", "expand_paths", "read_documents", "load_paths", "validate_paths"]

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class LoadedManifests:
    """Validated documents of one load: manifests for the set, Freight for the catalog."""

    manifests: list[SourcedManifest] = field(default_factory=list)
    freight: list[SourcedManifest] = field(default_factory=list)
    documents: list[SourceDocument] = field(default_factory=list)  # every parsed document, in order
    files: list[str] = field(default_factory=list)


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; directories searched recursively for *.yaml/*.yml, sorted.

    A path that does not exist raises ManifestError (so the CLI reports it like any error).
    """
    out: list[Path] = []
    issues: list[ManifestIssue] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in YAML_SUFFIXES)
            if not found:
                issues.append(ManifestIssue(file=raw, message="no *.yaml or *.yml files in this directory"))
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            issues.append(ManifestIssue(file=raw, message="no such file or directory"))
    if issues:
        raise ManifestError(issues)
    seen: set[Path] = set()
    unique = []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def read_documents(paths: list[str]) -> tuple[list[SourceDocument], list[str]]:
    """Parse every file; ManifestError lists the YAML problems of all files at once."""
    docs: list[SourceDocument] = []
    files: list[str] = []
    issues: list[ManifestIssue] = []
    for f in expand_paths(paths):
        name = str(f)
        files.append(name)
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(ManifestIssue(file=name, message=f"cannot read: {exc}"))
            continue
        try:
            docs.extend(parse_documents(text, name))
        except ManifestError as err:
            issues.extend(err.issues)
    if issues:
        raise ManifestError(issues)
    return docs, files


def load_paths(paths: list[str], default_project: str | None = None) -> LoadedManifests:
    """Read, parse and validate each document; ManifestError lists every problem found."""
    docs, files = read_documents(paths)
    loaded = LoadedManifests(documents=docs, files=files)
    issues: list[ManifestIssue] = []
    for doc in docs:
        try:
            item = load_sourced(doc, default_project)
        except ManifestError as err:
            issues.extend(err.issues)
            continue
        (loaded.freight if item.kind == "Freight" else loaded.manifests).append(item)
    if issues:
        raise ManifestError(issues)
    return loaded


def validate_paths(
    paths: list[str], existing: ManifestSet | None = None, default_project: str | None = None
) -> ManifestSet:
    """load_paths + merge into `existing` (or an empty set) + validate_set: what apply checks."""
    loaded = load_paths(paths, default_project)
    merged = (existing or ManifestSet()).merge(loaded.manifests)
    validate_set(merged)
    return merged
