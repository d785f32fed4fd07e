"""`helm-update-chart`: set the versions of a chart's dependencies in ``Chart.yaml``, then
do what Helm's ``dependency update`` does: download the dependencies into ``charts/`` and
rewrite ``Chart.lock``.

Config as in Kargo: ``path`` (the chart directory) and ``charts[]`` of
``{repository, name, version}``; each must match a dependency of ``Chart.yaml`` by
repository and name, or the step fails. Comments and layout of ``Chart.yaml`` are kept.

Then, for every dependency of ``Chart.yaml`` (not only those in ``charts``), as Helm
does (see ``activities.steps._helm_deps``): the version is resolved (a range picks the
newest matching version of the ``http(s)://`` repository's index or of the ``oci://``
repository's tags; ``file://`` charts are packaged), the archive is written to
``charts/`` and archives no dependency uses any more are removed, and ``Chart.lock`` is
written with Helm's digest. Credentials of type ``helm`` come from the credential store.
Nothing is written unless every dependency resolved and downloaded.

Output: ``commitMessage`` listing each change made to ``Chart.yaml`` (``name: old -> new``),
or none when no version there changed (as in Kargo). The step's message says what
changed in ``charts/`` and whether ``Chart.lock`` was written.

Idempotent: a second run finds the versions already set, downloads the same archives
(identical files are not rewritten) and leaves ``Chart.lock`` alone because its digest
is unchanged (Helm's rule), so its ``generated`` time stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import ScalarString
from temporalio import activity

from activities.steps import _helm_deps, _helm_lock, _safe_paths, _yaml
from activities.steps._common import typed_config
from activities.steps.base import (
    StepInput,
    StepResult,
    require_workdir,
    resolve_path,
    run_blocking,
    step_failed,
)
from contracts.step_configs.helm_update_chart import HelmUpdateChartConfig


@dataclass
class _Plan:
    """Chart.yaml with the versions set in memory (written only once all went well)."""

    path: str
    chart_dir: Path
    chart_file: Path
    yaml: YAML
    docs: list[Any]
    text: str
    changes: list[str]
    deps: list[_helm_lock.Dependency]


def _plan(base: Path, config: HelmUpdateChartConfig) -> _Plan:
    path = config.path
    chart_dir = resolve_path(base, path)
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        raise step_failed(f"config field 'path': {path!r} holds no Chart.yaml")
    y, docs, text = _yaml.load(chart_file)
    doc = docs[0] if docs else None
    if not isinstance(doc, dict):
        raise step_failed(f"config field 'path': {path}/Chart.yaml is not a chart definition")
    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        raise step_failed(f"config field 'path': 'dependencies' in {path}/Chart.yaml is not a list")
    changes: list[str] = []
    for i, c in enumerate(config.charts or []):
        repository, name, version = c.repository, c.name, c.version
        dep = next(
            (d for d in deps if isinstance(d, dict) and str(d.get("name")) == name and str(d.get("repository")) == repository),
            None,
        )
        if dep is None:
            raise step_failed(
                f"config field 'charts[{i}]': no dependency in {path}/Chart.yaml has repository {repository!r} and name {name!r}"
            )
        old = dep.get("version")
        if old is None or str(old) != version:
            # keep the quoting the file used for this version
            dep["version"] = type(old)(version) if isinstance(old, ScalarString) else _yaml.typed(version)
            changes.append(f"- {name}: {old} -> {version}" if old is not None else f"- {name}: {version}")
    parsed = [_helm_lock.dependency_from_yaml(d, f"{path}/Chart.yaml dependencies[{i}]") for i, d in enumerate(deps)]
    if parsed:
        _helm_deps.check_layout(chart_dir)
        # charts/ and local dependencies are read as a whole: no link in the chart may lead out
        _safe_paths.check_tree(base, chart_dir, "path")
    return _Plan(path, chart_dir, chart_file, y, docs, text, changes, parsed)


def _apply(plan: _Plan, locked: list[_helm_deps.Locked]) -> _helm_deps.Applied:
    if plan.changes:
        _yaml.dump(plan.chart_file, plan.yaml, plan.docs, plan.text)
    if not plan.deps:
        return _helm_deps.Applied()
    return _helm_deps.apply(plan.chart_dir, plan.deps, locked)


def _summary(applied: _helm_deps.Applied) -> str:
    parts = []
    if applied.written:
        parts.append("wrote charts/" + ", charts/".join(applied.written))
    if applied.removed:
        parts.append("removed charts/" + ", charts/".join(applied.removed))
    if applied.lock_written:
        parts.append("wrote Chart.lock")
    return "; ".join(parts)


@activity.defn(name="helm-update-chart")
async def helm_update_chart(input: StepInput) -> StepResult:
    """Update dependency versions in ``path``/Chart.yaml, ``charts/`` and ``Chart.lock``;
    output ``commitMessage``."""
    config = typed_config(HelmUpdateChartConfig, input)
    base = require_workdir(input.promotion)
    plan = await run_blocking(_plan, base, config)
    locked = await _helm_deps.resolve(plan.chart_dir, base, plan.deps) if plan.deps else []
    applied = await run_blocking(_apply, plan, locked)
    message = f"Updated chart dependencies for {plan.path}\n\n" + "\n".join(plan.changes) if plan.changes else ""
    summary = _summary(applied)
    activity.logger.info("helm-update-chart: %s: %s", plan.path, summary or "no change")
    return StepResult(outputs={"commitMessage": message} if message else {}, message=summary)
