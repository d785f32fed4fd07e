"""`helm-template`: render a local Helm chart with the ``helm`` binary.

Config as in Kargo: ``path`` (the chart), ``outPath``, ``releaseName``, ``namespace``
(default: the project), ``valuesFiles`` (``ignoreMissingValueFiles``), ``setValues``
(``{key, value, literal}``), ``includeCRDs``, ``disableHooks``, ``skipTests``,
``kubeVersion``, ``apiVersions``, ``buildDependencies``, ``outLayout`` (``helm`` or
``flat``) and ``useReleaseName``.

``outPath`` ending in ``.yaml``/``.yml`` gets everything in one file. Otherwise it is a
directory: with ``outLayout: helm`` (default) helm's own ``--output-dir`` layout
(``<chart or release name>/templates/...``); with ``flat`` one file per resource named
``[group-]kind[-namespace]-name.yaml``.

``path``, ``valuesFiles`` and ``outPath`` are resolved by ``activities.steps._safe_paths``:
nothing outside the working directory or inside ``.git`` is read or written, a chart
holding a symbolic link that leads out is refused, and output files are new files
renamed into place (a committed link named like an output is replaced).

Gantry renders with the ``helm`` binary on the worker's PATH (Kargo links Helm's Go
library in); without it the step fails, saying so.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps._tools import is_file_target, resource_meta, run_tool, safe_filename, split_documents, write_if_changed
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.helm_template import HelmTemplateConfig

NO_HELM = "helm-template needs the helm binary on the worker's PATH, and none was found"


def build_command(base: Path, config: HelmTemplateConfig, project: str) -> tuple[list[str], Path, str]:
    """The ``helm template`` command line for ``config``, the chart directory and its path."""
    path = config.path
    chart = resolve_path(base, path)
    cmd = ["helm", "template", config.release_name, str(chart), "--namespace", config.namespace or project]
    for i, rel in enumerate(config.values_files or []):
        field = f"valuesFiles[{i}]"
        values = resolve_path(base, rel, field)
        if not values.is_file():
            if config.ignore_missing_value_files:
                continue
            raise step_failed(f"config field {field!r}: values file {rel!r} does not exist")
        cmd += ["--values", str(values)]
    for sv in config.set_values or []:
        cmd += ["--set-literal" if sv.literal else "--set", f"{sv.key}={sv.value}"]
    if config.include_crds:
        cmd.append("--include-crds")
    if config.disable_hooks:
        cmd.append("--no-hooks")
    if config.skip_tests:
        cmd.append("--skip-tests")
    if config.kube_version:
        cmd += ["--kube-version", config.kube_version]
    for v in config.api_versions or []:
        cmd += ["--api-versions", v]
    return cmd, chart, path


def flat_name(meta: dict[str, str]) -> str:
    group = meta["apiVersion"].rpartition("/")[0]
    if not meta["kind"] or not meta["name"]:
        return ""
    name = meta["kind"]
    if group:
        name = group.replace(".", "_") + "-" + name
    if meta["namespace"]:
        name += "-" + meta["namespace"]
    return (name + "-" + meta["name"] + ".yaml").lower()


def _run(base: Path, config: HelmTemplateConfig, project: str) -> None:
    cmd, chart, path = build_command(base, config, project)
    out_path = config.out_path
    target = resolve_path(base, out_path, "outPath")
    if not (chart / "Chart.yaml").is_file():
        raise step_failed(f"config field 'path': {path!r} is not a Helm chart (no Chart.yaml)")
    # helm reads the whole chart directory and follows its links: none may lead out
    _safe_paths.check_tree(base, chart, "path")
    if shutil.which("helm") is None:
        raise step_failed(NO_HELM)
    what = f"helm-template of config field 'path' {path!r}"
    if config.build_dependencies:
        run_tool(["helm", "dependency", "build", str(chart)], cwd=base, what=what)
    if is_file_target(out_path, target):
        rendered = run_tool(cmd, cwd=base, what=what)
        write_if_changed(base, target, rendered.strip() + "\n")
        return
    if target.exists() and not target.is_dir():
        raise step_failed(f"config field 'outPath': {out_path!r} is a file; use a .yaml name or a directory")
    _safe_paths.make_dirs(base, target, "outPath")
    if config.out_layout == "flat":
        rendered = run_tool(cmd, cwd=base, what=what)
        for i, doc in enumerate(split_documents(rendered)):
            name = flat_name(resource_meta(doc)) or f"resource-{i}.yaml"
            write_if_changed(base, target / safe_filename(name, "outPath"), doc)
        return
    # helm's own layout; rendered into a scratch directory first, so that a retry
    # replaces files instead of appending to them as `helm --output-dir` would
    with tempfile.TemporaryDirectory(prefix=".gantry-helm-", dir=base) as scratch:
        extra = ["--output-dir", scratch] + (["--release-name"] if config.use_release_name else [])
        run_tool(cmd + extra, cwd=base, what=what)
        for f in sorted(Path(scratch).rglob("*")):
            if f.is_file() and not f.is_symlink():
                rel = f.relative_to(scratch)
                for part in rel.parts:
                    safe_filename(part, "outPath")
                write_if_changed(base, target / rel, f.read_text())


@activity.defn(name="helm-template")
async def helm_template(input: StepInput) -> StepResult:
    """Render the chart at ``path`` into ``outPath``."""
    config = typed_config(HelmTemplateConfig, input)
    base = require_workdir(input.promotion)
    await run_blocking(_run, base, config, input.project)
    activity.logger.info("helm-template: rendered %s", config.path)
    return StepResult()
