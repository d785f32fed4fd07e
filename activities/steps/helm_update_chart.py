"""`helm-update-chart`: set the versions of a chart's dependencies in ``Chart.yaml``.

Config as in Kargo: ``path`` (the chart directory) and ``charts[]`` of
``{repository, name, version}``; each must match a dependency of ``Chart.yaml`` by
repository and name, or the step fails. Comments and layout of ``Chart.yaml`` are kept.
Output: ``commitMessage`` listing each change (``name: old -> new``), or none when no
version changed (as in Kargo).

Where Gantry differs: Kargo then runs Helm's dependency update, which resolves the
versions, downloads the charts into ``charts/`` and rewrites ``Chart.lock``. That needs
Helm's repository client and the lock digest Helm computes, so Gantry does not touch
``Chart.lock`` or ``charts/``; when a ``Chart.lock`` exists the step's message says it
is now stale. Run ``helm dependency update`` where the chart is built, or drop the lock.

Idempotent: a second run finds the versions already set and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.scalarstring import ScalarString
from temporalio import activity

from activities.steps import _yaml
from activities.steps._common import get_list, get_str
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed

STALE_LOCK = (
    "Chart.lock was not updated (Gantry updates it only with Helm's dependency resolution): "
    "it no longer matches Chart.yaml; run `helm dependency update` on the chart"
)


def _run(base: Path, config: dict[str, Any]) -> tuple[str, bool]:
    path = get_str(config, "path", required=True)
    charts = get_list(config, "charts")
    if "charts" in config and not charts:
        raise step_failed("config field 'charts' must not be empty")
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
    for i, c in enumerate(charts):
        if not isinstance(c, dict):
            raise step_failed(f"config field 'charts[{i}]' must be a mapping {{repository, name, version}}")
        repository = get_str(c, "repository", required=True, where=f"charts[{i}].")
        name = get_str(c, "name", required=True, where=f"charts[{i}].")
        version = get_str(c, "version", required=True, where=f"charts[{i}].")
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
    if changes:
        _yaml.dump(chart_file, y, docs, text)
    message = f"Updated chart dependencies for {path}\n\n" + "\n".join(changes) if changes else ""
    return message, (chart_dir / "Chart.lock").is_file() and bool(charts)


@activity.defn(name="helm-update-chart")
async def helm_update_chart(input: StepInput) -> StepResult:
    """Update dependency versions in ``path``/Chart.yaml; output ``commitMessage``."""
    base = require_workdir(input.promotion)
    message, has_lock = await run_blocking(_run, base, input.config)
    activity.logger.info("helm-update-chart: %s %s", "updated" if message else "no change in", input.config.get("path"))
    return StepResult(outputs={"commitMessage": message} if message else {}, message=STALE_LOCK if has_lock else "")
