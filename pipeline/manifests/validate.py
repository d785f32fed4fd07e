"""Rules that span documents: references resolve, the Stage graph has no cycle, steps are
well formed. Kargo checks most of these only when a Promotion is created; Gantry checks
them at apply time so that a bad pipeline is rejected before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from contracts.step_configs import STEP_CONFIGS, config_issues

from pipeline.manifests.errors import ManifestError, ManifestIssue
from pipeline.manifests.manifest_set import ManifestSet, ProjectManifests
from pipeline.manifests.models import (
    ClusterPromotionTask,
    ExpressionVariable,
    PromotionStep,
    PromotionTask,
    Stage,
)
from contracts.metrics import PROVIDERS
from pipeline.manifests.steps import RUNNABLE_STEPS, refusal
from pipeline.manifests import template_check

__all__ = ["validate_set", "set_issues", "stage_cycles"]


class _Collector:
    """Builds issues that point at an object's file and the field's line."""

    def __init__(self, ms: ManifestSet):
        self.ms = ms
        self.issues: list[ManifestIssue] = []

    def add(self, kind: str, name: str, project: str | None, path: str, message: str) -> None:
        src = self.ms.source(kind, name, project)
        self.issues.append(
            ManifestIssue(
                file=src.file if src else "",
                line=src.line_of(path) if src else None,
                document=f"{kind}/{name}",
                project=project,
                path=path,
                message=message,
            )
        )


def _missing(kind: str, name: str, project: str | None) -> str:
    if project is None or kind.startswith("Cluster"):
        return f'{kind} "{name}" does not exist'
    return f'{kind} "{name}" does not exist in project {project}'


def _with_value(vars_: list[ExpressionVariable]) -> set[str]:
    return {v.name for v in vars_ if v.value}


def _check_steps(
    c: _Collector,
    steps: list[PromotionStep],
    *,
    base: str,
    owner_kind: str,
    owner_name: str,
    project: str | None,
    in_task: bool,
    known_steps: Collection[str],
    promotion_vars: set[str],
) -> None:
    """Checks the steps of a Stage's promotion template or of a (Cluster)PromotionTask."""
    aliases: dict[str, int] = {}
    pm = c.ms.projects.get(project) if project else None
    for i, step in enumerate(steps):
        at = f"{base}[{i}]"

        def add(path: str, message: str) -> None:
            c.add(owner_kind, owner_name, project, path, message)

        if step.as_:
            if step.as_ in aliases:
                add(
                    f"{at}.as",
                    f"step alias '{step.as_}' is already used by {base}[{aliases[step.as_]}]; "
                    "aliases must be unique",
                )
            else:
                aliases[step.as_] = i

        if in_task and step.task is not None:
            add(
                f"{at}.task",
                f"a {owner_kind} step cannot reference another task (tasks cannot nest); "
                "use 'uses' with a built-in step",
            )
            continue
        if step.uses is not None and step.task is not None:
            add(at, "a step needs exactly one of 'uses' or 'task', not both")
            continue
        if step.uses is None and step.task is None:
            want = "'uses' (a built-in step)" if in_task else "'uses' (a built-in step) or 'task' (a PromotionTask)"
            add(at, f"a step needs {want}")
            continue

        if step.uses is not None:
            if step.uses not in known_steps:
                add(f"{at}.uses", refusal(step.uses, known_steps))
            elif step.uses in STEP_CONFIGS:
                _check_config(add, step, at, i)
            continue

        # A task reference.
        ref = step.task
        assert ref is not None
        if step.continue_on_error:
            add(f"{at}.continueOnError", "a step that references a task cannot set continueOnError")
        if step.retry is not None:
            add(f"{at}.retry", "a step that references a task cannot set retry")
        task: PromotionTask | ClusterPromotionTask | None
        if ref.kind == "ClusterPromotionTask":
            task = c.ms.cluster_promotion_tasks.get(ref.name)
        else:
            task = pm.promotion_tasks.get(ref.name) if pm else None
        if task is None:
            add(f"{at}.task.name", _missing(ref.kind, ref.name, project))
            continue
        declared = [v.name for v in task.spec.vars]
        for k, var in enumerate(step.vars):
            if var.name not in declared:
                have = ", ".join(declared) if declared else "none"
                add(
                    f"{at}.vars[{k}].name",
                    f'{ref.kind} "{ref.name}" has no var \'{var.name}\' (its vars: {have})',
                )
        supplied = _with_value(step.vars) | promotion_vars
        for var in task.spec.vars:
            if not var.value and var.name not in supplied:
                add(
                    f"{at}.vars",
                    f"missing value for variable '{var.name}': {ref.kind} \"{ref.name}\" "
                    "requires it and gives no default; set it in this step's vars",
                )


def _check_config(add: Callable[[str, str], None], step: PromotionStep, at: str, index: int) -> None:
    """The step's config against its model: fields holding ``${{ }}`` wait for run time."""
    assert step.uses is not None
    alias = step.as_ or f"step-{index}"
    for issue in config_issues(STEP_CONFIGS[step.uses], step.config, rendered=False):
        path = f"{at}.config.{issue.path}" if issue.path else f"{at}.config"
        add(path, f"step '{alias}' ({step.uses}): {issue.message}")


def stage_cycles(stages: dict[str, Stage]) -> list[list[str]]:
    """Cycles of the Stage graph (Freight flows upstream -> downstream), each as a list of
    stage names starting at its alphabetically first one, without repeats."""
    downstream: dict[str, list[str]] = {name: [] for name in stages}
    for name, stage in stages.items():
        for rf in stage.spec.requested_freight:
            for up in rf.sources.stages:
                if up in downstream and name not in downstream[up]:
                    downstream[up].append(name)
    for v in downstream.values():
        v.sort()
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in downstream[node]:
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):]
                k = cyc.index(min(cyc))
                norm = tuple(cyc[k:] + cyc[:k])
                if norm not in seen:
                    seen.add(norm)
                    found.append(list(norm))
            elif state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(downstream):
        if node not in state:
            visit(node)
    return found


def _check_project(c: _Collector, project: str, pm: ProjectManifests, known_steps: Collection[str]) -> None:
    if pm.project_config is not None and pm.project_config.metadata.name != project:
        c.add(
            "ProjectConfig",
            pm.project_config.metadata.name,
            project,
            "metadata.name",
            f"a ProjectConfig must be named after its project ({project!r})",
        )

    for name in sorted(pm.stages):
        stage = pm.stages[name]
        for i, rf in enumerate(stage.spec.requested_freight):
            at = f"spec.requestedFreight[{i}]"
            if rf.origin.name not in pm.warehouses:
                c.add("Stage", name, project, f"{at}.origin.name", _missing("Warehouse", rf.origin.name, project))
            if not rf.sources.direct and not rf.sources.stages:
                c.add(
                    "Stage",
                    name,
                    project,
                    f"{at}.sources",
                    "say where the Freight comes from: sources.direct: true (from the Warehouse) "
                    "or sources.stages (from upstream Stages)",
                )
            for j, up in enumerate(rf.sources.stages):
                if up not in pm.stages:
                    c.add("Stage", name, project, f"{at}.sources.stages[{j}]", _missing("Stage", up, project))

        pt = stage.spec.promotion_template
        if pt is not None:
            _check_steps(
                c,
                pt.spec.steps,
                base="spec.promotionTemplate.spec.steps",
                owner_kind="Stage",
                owner_name=name,
                project=project,
                in_task=False,
                known_steps=known_steps,
                promotion_vars=_with_value(stage.spec.vars) | _with_value(pt.spec.vars),
            )

        ver = stage.spec.verification
        if ver is not None:
            for k, ref in enumerate(ver.analysis_templates):
                if ref.kind == "ClusterAnalysisTemplate":
                    ok = ref.name in c.ms.cluster_analysis_templates
                else:
                    ok = ref.name in pm.analysis_templates
                if not ok:
                    c.add(
                        "Stage",
                        name,
                        project,
                        f"spec.verification.analysisTemplates[{k}].name",
                        _missing(ref.kind, ref.name, project),
                    )

    for cycle in stage_cycles(pm.stages):
        first, last = cycle[0], cycle[-1]
        path = ""
        for i, rf in enumerate(pm.stages[first].spec.requested_freight):
            if last in rf.sources.stages:
                path = f"spec.requestedFreight[{i}].sources.stages[{rf.sources.stages.index(last)}]"
                break
        c.add(
            "Stage",
            first,
            project,
            path,
            "the Stage graph has a cycle: " + " -> ".join(cycle + [first]),
        )

    for name in sorted(pm.promotion_tasks):
        task = pm.promotion_tasks[name]
        _check_steps(
            c,
            task.spec.steps,
            base="spec.steps",
            owner_kind="PromotionTask",
            owner_name=name,
            project=project,
            in_task=True,
            known_steps=known_steps,
            promotion_vars=set(),
        )

    for name in sorted(pm.analysis_templates):
        _check_template_refs(c, "AnalysisTemplate", name, project, pm)


def _check_template_refs(c: _Collector, kind: str, name: str, project: str | None, pm: ProjectManifests | None) -> None:
    tmpl = (pm.analysis_templates.get(name) if pm else None) if kind == "AnalysisTemplate" else c.ms.cluster_analysis_templates.get(name)
    if tmpl is None:
        return
    for i, metric in enumerate(tmpl.spec.metrics):
        provider = metric.provider.kind
        if provider not in PROVIDERS:
            c.add(
                kind, name, project, f"spec.metrics[{i}].provider.{provider}",
                f"metric provider '{provider}' is not supported by Gantry (it measures with {', '.join(PROVIDERS)})",
            )  # fmt: skip
    if tmpl.spec.templates:
        c.add(
            kind, name, project, "spec.templates",
            "templates that include other templates are not supported by Gantry yet; "
            "list each template in the Stage's verification instead",
        )  # fmt: skip
    for k, ref in enumerate(tmpl.spec.templates):
        if ref.cluster_scope:
            ok = ref.template_name in c.ms.cluster_analysis_templates
            target = "ClusterAnalysisTemplate"
        else:
            ok = pm is not None and ref.template_name in pm.analysis_templates
            target = "AnalysisTemplate"
        if not ok:
            c.add(kind, name, project, f"spec.templates[{k}].templateName", _missing(target, ref.template_name, project))


def set_issues(ms: ManifestSet, *, known_steps: Collection[str] = RUNNABLE_STEPS) -> list[ManifestIssue]:
    """Every cross-document problem of the set, sorted by file and line."""
    c = _Collector(ms)
    for project in sorted(ms.projects):
        _check_project(c, project, ms.projects[project], known_steps)
    for name in sorted(ms.cluster_promotion_tasks):
        _check_steps(
            c,
            ms.cluster_promotion_tasks[name].spec.steps,
            base="spec.steps",
            owner_kind="ClusterPromotionTask",
            owner_name=name,
            project=None,
            in_task=True,
            known_steps=known_steps,
            promotion_vars=set(),
        )
    for name in sorted(ms.cluster_analysis_templates):
        _check_template_refs(c, "ClusterAnalysisTemplate", name, None, None)
    _check_templates(c)
    return sorted(c.issues, key=lambda i: (i.file, i.line or 0, i.path))


def _check_templates(c: _Collector) -> None:
    """Every `${{ }}` of Stages and tasks, and every creation criteria, parses and calls
    only functions Gantry has."""

    def adder(kind: str, name: str, project: str | None) -> template_check.Add:
        return lambda path, message: c.add(kind, name, project, path, message)

    for project, pm in sorted(c.ms.projects.items()):
        for name, stage in sorted(pm.stages.items()):
            template_check.check_stage(adder("Stage", name, project), stage)
        for name, task in sorted(pm.promotion_tasks.items()):
            template_check.check_task(adder("PromotionTask", name, project), task.spec.vars, task.spec.steps)
        for name, warehouse in sorted(pm.warehouses.items()):
            template_check.check_warehouse(adder("Warehouse", name, project), warehouse)
    for name, task in sorted(c.ms.cluster_promotion_tasks.items()):
        template_check.check_task(adder("ClusterPromotionTask", name, None), task.spec.vars, task.spec.steps)


def validate_set(ms: ManifestSet, *, known_steps: Collection[str] = RUNNABLE_STEPS) -> None:
    """Raise ManifestError listing every problem of the set; return None if it is valid."""
    issues = set_issues(ms, known_steps=known_steps)
    for project in sorted(ms.projects):
        try:
            check_size(ms, project)
        except ManifestError as err:
            issues.extend(err.issues)
    if issues:
        raise ManifestError(issues)


#: the most a project's stored manifests may take, as JSON. The ProjectWorkflow carries them
#: in every continue-as-new input, and Temporal refuses a payload over 2 MB: a project past
#: that would stop taking anything. 1 MB leaves room for the rest of the project's state and
#: for the apply request, which holds the documents' text too; Temporal warns from 512 KB
#: (about 400 Stages of one step and one verification each: bench/scale.py).
MANIFESTS_LIMIT = 1_000_000


def check_size(ms: ManifestSet, project: str, limit: int = MANIFESTS_LIMIT) -> None:
    """Raise ManifestError when the project's manifests would pass `limit` bytes stored."""
    found = ms.projects.get(project)
    if found is None:
        return
    size = len(found.model_dump_json(by_alias=True, exclude_none=True))
    if size <= limit:
        return
    kinds = {
        "Stage": found.stages,
        "Warehouse": found.warehouses,
        "PromotionTask": found.promotion_tasks,
        "AnalysisTemplate": found.analysis_templates,
        "ConfigMap": found.config_maps,
    }
    counts = ", ".join(f"{len(items)} {kind}s" for kind, items in kinds.items() if items)
    raise ManifestError(
        [
            ManifestIssue(
                project=project,
                message=(
                    f"project {project}'s manifests would take {size / 1000:.0f} KB stored ({counts}); the limit "
                    f"is {limit / 1000:.0f} KB, as the project carries them in one Temporal payload: "
                    "split it into projects, or share steps through PromotionTasks"
                ),
            )
        ]
    )
