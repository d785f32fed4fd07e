"""The applied manifests of every project: what ProjectWorkflow holds and validates.

A ManifestSet is plain pydantic data (it travels in Temporal workflow state). Applying
documents is :meth:`ManifestSet.merge`: create or replace by kind/namespace/name, never
delete, and return a new set, so a rejected apply leaves the old one untouched.
Freight is not part of it (the freight catalog is kept elsewhere).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from pipeline.manifests.errors import ManifestError, ManifestIssue
from pipeline.manifests.models import (
    AnalysisTemplate,
    ClusterAnalysisTemplate,
    ClusterPromotionTask,
    ConfigMap,
    Project,
    ProjectConfig,
    PromotionTask,
    Stage,
    Warehouse,
)
from pipeline.manifests.parse import SourcedManifest, SourceRef

__all__ = ["ProjectManifests", "ManifestSet", "source_key"]


class ProjectManifests(BaseModel):
    """Everything applied in one project (Kargo: one namespace)."""

    project: Project | None = None
    project_config: ProjectConfig | None = None
    warehouses: dict[str, Warehouse] = Field(default_factory=dict)
    stages: dict[str, Stage] = Field(default_factory=dict)
    promotion_tasks: dict[str, PromotionTask] = Field(default_factory=dict)
    analysis_templates: dict[str, AnalysisTemplate] = Field(default_factory=dict)
    config_maps: dict[str, ConfigMap] = Field(default_factory=dict)


#: kind -> ProjectManifests attribute holding it (dict name->model), for namespaced kinds.
_PROJECT_FIELDS = {
    "Warehouse": "warehouses",
    "Stage": "stages",
    "PromotionTask": "promotion_tasks",
    "AnalysisTemplate": "analysis_templates",
    "ConfigMap": "config_maps",
}


def _cluster_key(key: str) -> bool:
    """A sources key of a cluster-scoped object (no project in front)."""
    return key.startswith(("Cluster", "ConfigMap/"))


def source_key(kind: str, name: str, project: str | None = None) -> str:
    """Key of ManifestSet.sources: 'my-project/Stage/uat', or 'ClusterPromotionTask/x'."""
    return f"{project}/{kind}/{name}" if project else f"{kind}/{name}"


class ManifestSet(BaseModel):
    """All applied manifests, by project, plus the cluster-scoped tasks and templates and
    the ConfigMaps of the shared resources namespace."""

    cluster_promotion_tasks: dict[str, ClusterPromotionTask] = Field(default_factory=dict)
    cluster_analysis_templates: dict[str, ClusterAnalysisTemplate] = Field(default_factory=dict)
    shared_config_maps: dict[str, ConfigMap] = Field(default_factory=dict)
    projects: dict[str, ProjectManifests] = Field(default_factory=dict)
    #: source_key(...) -> where the object was last applied from.
    sources: dict[str, SourceRef] = Field(default_factory=dict)

    # -- applying ---------------------------------------------------------------------------

    def merge(self, documents: list[SourcedManifest]) -> ManifestSet:
        """Apply documents: create or replace by kind/namespace/name, never delete.

        Returns a new set (this one is not changed). The same kind/namespace/name twice in
        one apply is an error naming both places. Freight documents are refused (an issue):
        they belong to the freight catalog.
        """
        return self.merge_with_changes(documents)[0]

    def merge_with_changes(self, documents: list[SourcedManifest]) -> tuple[ManifestSet, list[str]]:
        """merge(), plus what happened to each document, kubectl style:
        "stage/uat created", "stage/uat configured", "stage/uat unchanged"."""
        seen: dict[str, SourceRef] = {}
        issues: list[ManifestIssue] = []
        for doc in documents:
            if doc.kind == "Freight":
                issues.append(
                    ManifestIssue(
                        file=doc.source.file,
                        line=doc.source.line,
                        document=doc.source.document,
                        project=doc.project,
                        message="Freight is not a manifest of the set: it goes to the freight catalog",
                    )
                )
                continue
            key = source_key(doc.kind, doc.name, self._scope(doc))
            if key in seen:
                first = seen[key]
                issues.append(
                    ManifestIssue(
                        file=doc.source.file,
                        line=doc.source.line,
                        document=doc.source.document,
                        project=doc.project,
                        message=f"{doc.kind} \"{doc.name}\""
                        + (f" in project {doc.project}" if self._scope(doc) else "")
                        + f" is defined twice in one apply: at {first.file}:{first.line} "
                        f"and at {doc.source.file}:{doc.source.line}",
                    )
                )
                continue
            seen[key] = doc.source
        if issues:
            raise ManifestError(issues)

        new = self.model_copy(deep=True)
        changes: list[str] = []
        for doc in documents:
            m = doc.manifest
            name = doc.name
            scope = self._scope(doc)
            before = new._get(m.kind, name, scope)
            if before is None:
                verdict = "created"
            elif before.model_dump(mode="json") == m.model_dump(mode="json"):
                verdict = "unchanged"
            else:
                verdict = "configured"
            changes.append(f"{m.kind.lower()}/{name} {verdict}")
            if m.kind == "ClusterPromotionTask":
                new.cluster_promotion_tasks[name] = m
            elif m.kind == "ClusterAnalysisTemplate":
                new.cluster_analysis_templates[name] = m
            elif m.kind == "ConfigMap" and scope is None:
                new.shared_config_maps[name] = m
            else:
                assert scope is not None
                pm = new.projects.setdefault(scope, ProjectManifests())
                if m.kind == "Project":
                    pm.project = m
                elif m.kind == "ProjectConfig":
                    pm.project_config = m
                else:
                    getattr(pm, _PROJECT_FIELDS[m.kind])[name] = m
            new.sources[source_key(m.kind, name, scope)] = doc.source
        return new, changes

    def _get(self, kind: str, name: str, project: str | None):
        if kind == "ClusterPromotionTask":
            return self.cluster_promotion_tasks.get(name)
        if kind == "ClusterAnalysisTemplate":
            return self.cluster_analysis_templates.get(name)
        if kind == "ConfigMap" and project is None:
            return self.shared_config_maps.get(name)
        pm = self.projects.get(project or "")
        if pm is None:
            return None
        if kind == "Project":
            return pm.project
        if kind == "ProjectConfig":
            return pm.project_config
        return getattr(pm, _PROJECT_FIELDS[kind]).get(name)

    def with_cluster(self, other: ManifestSet) -> ManifestSet:
        """A copy of this set whose cluster-scoped tasks and templates are `other`'s
        (ProjectWorkflows get them from the `cluster` workflow to resolve references)."""
        new = self.model_copy(deep=True)
        new.cluster_promotion_tasks = dict(other.cluster_promotion_tasks)
        new.cluster_analysis_templates = dict(other.cluster_analysis_templates)
        new.shared_config_maps = dict(other.shared_config_maps)
        for key in [k for k in new.sources if _cluster_key(k)]:
            del new.sources[key]
        for key, src in other.sources.items():
            if _cluster_key(key):
                new.sources[key] = src
        return new

    @staticmethod
    def _scope(doc: SourcedManifest) -> str | None:
        # Projects are keyed by their own name (the project they create).
        return doc.project

    # -- reading ----------------------------------------------------------------------------

    def project(self, name: str) -> ProjectManifests | None:
        return self.projects.get(name)

    def stage(self, project: str, name: str) -> Stage | None:
        pm = self.projects.get(project)
        return pm.stages.get(name) if pm else None

    def warehouse(self, project: str, name: str) -> Warehouse | None:
        pm = self.projects.get(project)
        return pm.warehouses.get(name) if pm else None

    def promotion_task(
        self, project: str, name: str, kind: str = "PromotionTask"
    ) -> PromotionTask | ClusterPromotionTask | None:
        """A PromotionTask of the project, or (kind="ClusterPromotionTask") a cluster one."""
        if kind == "ClusterPromotionTask":
            return self.cluster_promotion_tasks.get(name)
        pm = self.projects.get(project)
        return pm.promotion_tasks.get(name) if pm else None

    def analysis_template(
        self, project: str, name: str, kind: str = "AnalysisTemplate"
    ) -> AnalysisTemplate | ClusterAnalysisTemplate | None:
        """An AnalysisTemplate of the project, or (kind="ClusterAnalysisTemplate") a cluster one."""
        if kind == "ClusterAnalysisTemplate":
            return self.cluster_analysis_templates.get(name)
        pm = self.projects.get(project)
        return pm.analysis_templates.get(name) if pm else None

    def source(self, kind: str, name: str, project: str | None = None) -> SourceRef | None:
        """Where an object was applied from (project ignored for cluster-scoped kinds)."""
        if kind in ("ClusterPromotionTask", "ClusterAnalysisTemplate"):
            project = None
        return self.sources.get(source_key(kind, name, project))

    def counts(self) -> dict[str, int]:
        """Number of objects per kind, for summaries."""
        out = {
            "Project": 0,
            "ProjectConfig": 0,
            "Warehouse": 0,
            "Stage": 0,
            "PromotionTask": 0,
            "ClusterPromotionTask": len(self.cluster_promotion_tasks),
            "AnalysisTemplate": 0,
            "ClusterAnalysisTemplate": len(self.cluster_analysis_templates),
            "ConfigMap": len(self.shared_config_maps),
        }
        for pm in self.projects.values():
            out["Project"] += pm.project is not None
            out["ProjectConfig"] += pm.project_config is not None
            out["Warehouse"] += len(pm.warehouses)
            out["Stage"] += len(pm.stages)
            out["PromotionTask"] += len(pm.promotion_tasks)
            out["AnalysisTemplate"] += len(pm.analysis_templates)
            out["ConfigMap"] += len(pm.config_maps)
        return out
