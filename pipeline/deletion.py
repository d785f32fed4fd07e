"""What a deletion removes and what blocks it (`gantry delete`, `gantry apply --prune`).

Pure: the ProjectWorkflow's `delete` update and the client both plan with these functions, so
the workflow refuses exactly what the CLI explains. Deleting a Project removes everything in
it. An object another object still references (a Warehouse a Stage takes Freight from, a Stage
another Stage lists upstream, a task a Stage runs, an AnalysisTemplate a verification or another
template uses) is refused, naming who references it, unless the referrer goes in the same
deletion.
"""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import BaseModel, Field

from pipeline.manifests.errors import ManifestError, ManifestIssue
from pipeline.manifests.manifest_set import ManifestSet, ProjectManifests, source_key
from pipeline.manifests.parse import SourceDocument, document_label

#: the kinds that can be deleted, and the ManifestSet/ProjectManifests attribute of the named ones
PROJECT_KINDS = {
    "Warehouse": "warehouses",
    "Stage": "stages",
    "PromotionTask": "promotion_tasks",
    "AnalysisTemplate": "analysis_templates",
}
CLUSTER_KINDS = {
    "ClusterPromotionTask": "cluster_promotion_tasks",
    "ClusterAnalysisTemplate": "cluster_analysis_templates",
}
KINDS = ("Project", "ProjectConfig", *PROJECT_KINDS, *CLUSTER_KINDS)


#: how `gantry get` and kubectl users write kinds: any case, singular or plural
_ALIASES = {k.lower(): k for k in KINDS} | {k.lower() + "s": k for k in KINDS}


class ObjectRef(BaseModel):
    """One object to delete: its kind and name (the project is the workflow's, or the cluster)."""

    kind: Literal[
        "Project", "ProjectConfig", "Warehouse", "Stage", "PromotionTask", "AnalysisTemplate",
        "ClusterPromotionTask", "ClusterAnalysisTemplate",
    ]  # fmt: skip
    name: str

    @property
    def label(self) -> str:
        """kubectl's `stage/uat`."""
        return f"{self.kind.lower()}/{self.name}"


class DeletePlan(BaseModel):
    """What a deletion in one project (or in the cluster scope) does."""

    #: every object that goes, the expansion of a Project included, in a stable order
    deleted: list[ObjectRef] = Field(default_factory=list)
    #: targets that do not exist, as "stage 'x' does not exist in project p (stages: a, b)"
    missing: list[str] = Field(default_factory=list)
    #: references that block it: "Stage 'uat' requests Freight from Warehouse 'w'"
    blockers: list[str] = Field(default_factory=list)
    #: the project itself goes (its workflow ends)
    project: bool = False

    def names(self, kind: str) -> list[str]:
        return [r.name for r in self.deleted if r.kind == kind]

    def problems(self) -> list[str]:
        return self.missing + [f"{b} (delete it in the same command, or change it first)" for b in self.blockers]


def resolve_kind(text: str) -> str:
    """A kind as a user types it (`stage`, `stages`, `Stage`) -> Kargo's kind; ValueError with a
    did-you-mean for anything else."""
    found = _ALIASES.get(text.strip().lower())
    if found:
        return found
    close = difflib.get_close_matches(text.lower(), sorted(_ALIASES), n=1, cutoff=0.7)
    hint = f"; did you mean '{_ALIASES[close[0]].lower()}'?" if close else ""
    raise ValueError(f"unknown kind {text!r}{hint} (kinds: {', '.join(k.lower() for k in KINDS)})")


def references(pm: ProjectManifests) -> list[tuple[str, str, str, str, str]]:
    """Every reference in a project: (from kind, from name, to kind, to name, how)."""
    out = []
    for name, stage in sorted(pm.stages.items()):
        for request in stage.spec.requested_freight:
            out.append(("Stage", name, "Warehouse", request.origin.name, "requests Freight from"))
            for upstream in request.sources.stages:
                out.append(("Stage", name, "Stage", upstream, "takes Freight from upstream"))
        for step in stage.steps:
            if step.task is not None:
                out.append(("Stage", name, step.task.kind, step.task.name, "runs"))
        for ref in stage.spec.verification.analysis_templates if stage.spec.verification else []:
            out.append(("Stage", name, ref.kind, ref.name, "verifies with"))
    for name, template in sorted(pm.analysis_templates.items()):
        for ref in template.spec.templates:
            kind = "ClusterAnalysisTemplate" if ref.cluster_scope else "AnalysisTemplate"
            out.append(("AnalysisTemplate", name, kind, ref.template_name, "includes"))
    return out


def blocking(pm: ProjectManifests | None, gone: set[tuple[str, str]], project: str | None = None) -> list[str]:
    """References from objects that stay to objects in `gone` ((kind, name) pairs)."""
    if pm is None:
        return []
    where = f" in project {project}" if project else ""
    found = []
    for src_kind, src, kind, name, how in references(pm):
        if (kind, name) in gone and (src_kind, src) not in gone:
            found.append(f"{src_kind} '{src}'{where} {how} {kind} '{name}'")
    return sorted(set(found))


def _everything(pm: ProjectManifests, project: str) -> list[ObjectRef]:
    refs = [ObjectRef(kind="Project", name=project)]
    if pm.project_config is not None:
        refs.append(ObjectRef(kind="ProjectConfig", name=pm.project_config.metadata.name or project))
    for kind, attr in PROJECT_KINDS.items():
        refs += [ObjectRef(kind=kind, name=n) for n in sorted(getattr(pm, attr))]
    return refs


def _exists(pm: ProjectManifests, ref: ObjectRef) -> bool:
    if ref.kind == "ProjectConfig":
        return pm.project_config is not None and (pm.project_config.metadata.name or "") == ref.name
    return ref.name in getattr(pm, PROJECT_KINDS[ref.kind])


def plan_deletion(manifests: ManifestSet, project: str, targets: list[ObjectRef], *, ignore_missing: bool = False) -> DeletePlan:
    """Plan deleting `targets` from `project` (or from the cluster scope: project "cluster").

    Cluster-scoped kinds are planned here for the cluster scope only; their references from
    projects are `blocking`'s to find, project by project, by the caller that can read them."""
    plan = DeletePlan()
    if project == "cluster":
        for ref in _dedupe(targets):
            attr = CLUSTER_KINDS.get(ref.kind)
            if attr is None:
                plan.missing.append(f"{ref.kind} is not cluster-scoped: name a project (-p)")
            elif ref.name in getattr(manifests, attr):
                plan.deleted.append(ref)
            elif not ignore_missing:
                plan.missing.append(_missing(ref, sorted(getattr(manifests, attr)), "the cluster scope"))
        return plan
    pm = manifests.projects.get(project) or ProjectManifests()
    wanted = _dedupe(targets)
    if any(r.kind == "Project" and r.name == project for r in wanted):
        plan.project = True
        plan.deleted = _everything(pm, project)
        return plan
    for ref in wanted:
        if ref.kind == "Project" or ref.kind in CLUSTER_KINDS:
            plan.missing.append(f"{ref.kind} '{ref.name}' is not in project {project}")
        elif _exists(pm, ref):
            plan.deleted.append(ref)
        elif not ignore_missing:
            known = [pm.project_config.metadata.name or ""] if ref.kind == "ProjectConfig" and pm.project_config else []
            if ref.kind in PROJECT_KINDS:
                known = sorted(getattr(pm, PROJECT_KINDS[ref.kind]))
            plan.missing.append(_missing(ref, known, f"project {project}"))
    plan.blockers = blocking(pm, {(r.kind, r.name) for r in plan.deleted})
    return plan


def _missing(ref: ObjectRef, known: list[str], where: str) -> str:
    close = difflib.get_close_matches(ref.name, known, n=1, cutoff=0.7)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listed = f" ({ref.kind.lower()}s: {', '.join(known)})" if known else ""
    return f"{ref.kind.lower()} '{ref.name}' does not exist in {where}{hint}{listed}"


def _dedupe(refs: list[ObjectRef]) -> list[ObjectRef]:
    seen: dict[tuple[str, str], ObjectRef] = {}
    for ref in refs:
        seen.setdefault((ref.kind, ref.name), ref)
    return list(seen.values())


def prune_targets(pm: ProjectManifests | None, project: str, kept: list[ObjectRef]) -> list[ObjectRef]:
    """The objects of a project that `kept` (the documents of the files applied) does not name:
    what `apply --prune` deletes. The Project itself is never pruned (the files name it)."""
    if pm is None:
        return []
    keep = {(r.kind, r.name) for r in kept}
    return [r for r in _everything(pm, project) if r.kind != "Project" and (r.kind, r.name) not in keep]


def without(manifests: ManifestSet, project: str, plan: DeletePlan) -> ManifestSet:
    """A copy of `manifests` with the plan's objects (and where they were applied from) gone."""
    new = manifests.model_copy(deep=True)
    if project == "cluster":
        for ref in plan.deleted:
            getattr(new, CLUSTER_KINDS[ref.kind]).pop(ref.name, None)
            new.sources.pop(source_key(ref.kind, ref.name), None)
        return new
    if plan.project:
        new.projects.pop(project, None)
        new.sources = {k: v for k, v in new.sources.items() if not k.startswith(f"{project}/")}
        return new
    pm = new.projects.get(project)
    for ref in plan.deleted:
        if pm is not None:
            if ref.kind == "ProjectConfig":
                pm.project_config = None
            else:
                getattr(pm, PROJECT_KINDS[ref.kind]).pop(ref.name, None)
        new.sources.pop(source_key(ref.kind, ref.name, project), None)
    return new


def targets_of(documents: list[SourceDocument], default_project: str | None) -> dict[str | None, list[ObjectRef]]:
    """What `gantry delete -f` deletes, by project (None: the cluster scope), from documents
    read as written: only kind, metadata.name and metadata.namespace matter, as for kubectl.
    ManifestError names the file, line and document of each one that cannot be told."""
    out: dict[str | None, list[ObjectRef]] = {}
    issues = []
    for doc in documents:
        data = doc.data
        label = document_label(data)
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        name, namespace = meta.get("name"), meta.get("namespace") or default_project

        def issue(path: str, message: str) -> None:
            line = doc.lines.get(path, doc.line)
            issues.append(ManifestIssue(file=doc.file, line=line, document=label, path=path, message=message))

        if data.get("kind") == "Freight":
            issue("kind", "Freight is not deleted: garbage collection ends it (docs/architecture.md)")
            continue
        try:
            kind = resolve_kind(str(data.get("kind") or ""))
        except ValueError as err:
            issue("kind", str(err))
            continue
        if not isinstance(name, str) or not name:
            issue("metadata.name", "field required: which object to delete")
            continue
        if kind == "Project":
            scope: str | None = name
        elif kind in CLUSTER_KINDS:
            scope = None
        elif not isinstance(namespace, str) or not namespace:
            issue("metadata.namespace", "field required: the project to delete from (or give -p)")
            continue
        else:
            scope = namespace
        out.setdefault(scope, []).append(ObjectRef(kind=kind, name=name))
    if issues:
        raise ManifestError(issues)
    return out
