"""`kustomize-build`: render a kustomization into a file or a directory of files.

Runs ``kustomize build`` when ``kustomize`` is on the worker's PATH, else
``kubectl kustomize``, with the root-only load restrictor (a kustomization reads files only
from its own directory and below; bases in other directories still load, and
``/proc/self/environ`` or a symlink out of the tree does not), an allow-listed
environment (``activities.trust``), and the Helm chart inflator enabled
(``plugin.helm.kubeVersion`` and ``plugin.helm.apiVersions`` are passed on; it needs
``helm`` on the PATH only if the kustomization inflates a chart).

``outPath`` ending in ``.yaml``/``.yml`` gets everything in one file. Any other
``outPath`` is a directory with one file per resource, named as Kargo names them:
``outputFormat: kargo`` (default) gives ``[namespace-]kind-name.yaml``, ``kustomize``
gives kustomize's own ``[namespace_]group_version_kind_name.yaml``.

``outPath`` is resolved by ``activities.steps._safe_paths``: a committed symbolic link
that leads outside the working directory or into ``.git`` is refused, and each file is
written as a new file renamed into place (a link named like an output is replaced).

Idempotent: a second build writes the same files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps._tools import is_file_target, resource_meta, run_tool, safe_filename, split_documents, write_if_changed
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.kustomize_build import HelmPlugin, KustomizeBuildConfig

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

#: Kinds kustomize treats as cluster-scoped (no namespace), for the "several namespaces" rule.
CLUSTER_SCOPED = {
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "ComponentStatus",
    "CSIDriver", "CSINode", "CustomResourceDefinition", "FlowSchema", "IngressClass",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume", "PodSecurityPolicy",
    "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment",
}  # fmt: skip


def kustomize_command(directory: Path, helm: HelmPlugin | None) -> list[str]:
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    else:
        raise step_failed(
            "kustomize-build needs `kustomize` or `kubectl` on the worker's PATH, and neither was found"
        )
    cmd += ["--load-restrictor", "LoadRestrictionsRootOnly", "--enable-helm"]
    if helm and helm.kube_version:
        cmd += ["--helm-kube-version", helm.kube_version]
    for v in (helm.api_versions if helm else None) or []:
        cmd += ["--helm-api-versions", v]
    return cmd


def file_name(meta: dict[str, str], fmt: str, several_namespaces: bool) -> str:
    kind, ns, name = meta["kind"], meta["namespace"], meta["name"]
    if fmt == "kargo":
        return (f"{ns}-{kind}-{name}.yaml" if ns else f"{kind}-{name}.yaml").lower()
    group, _, version = meta["apiVersion"].rpartition("/")
    gvk = "_".join(p for p in (group, version, kind) if p)
    base = f"{gvk}_{name}.yaml".lower()
    return f"{ns.lower()}_{base}" if several_namespaces and ns else base


def _run(base: Path, config: KustomizeBuildConfig) -> int:
    path, out_path, fmt = config.path, config.out_path, config.output_format or "kargo"
    helm = config.plugin.helm if config.plugin else None
    directory = resolve_path(base, path)
    if not directory.is_dir():
        raise step_failed(f"config field 'path': directory {path!r} does not exist")
    if not any((directory / f).is_file() for f in KUSTOMIZATION_FILES):
        raise step_failed(f"config field 'path': {path!r} holds no kustomization.yaml")
    target = resolve_path(base, out_path, "outPath")
    if target == base.resolve():
        raise step_failed("config field 'outPath' must name a file or a directory below the working directory")
    rendered = run_tool(kustomize_command(directory, helm), cwd=base, what=f"kustomize-build of config field 'path' {path!r}")
    if is_file_target(out_path, target):
        write_if_changed(base, target, rendered)
        return len(split_documents(rendered))
    if target.exists() and not target.is_dir():
        raise step_failed(f"config field 'outPath': {out_path!r} is a file; use a .yaml name or a directory")
    docs = [(d, resource_meta(d)) for d in split_documents(rendered)]
    namespaces = {m["namespace"] or "default" for _, m in docs if m["kind"] not in CLUSTER_SCOPED}
    files: dict[str, str] = {}
    for doc, meta in docs:
        name = safe_filename(file_name(meta, fmt, len(namespaces) > 1), "outPath")
        files[name] = doc
    _safe_paths.make_dirs(base, target, "outPath")
    for name, doc in files.items():
        write_if_changed(base, target / name, doc)
    return len(files)


@activity.defn(name="kustomize-build")
async def kustomize_build(input: StepInput) -> StepResult:
    """Build the kustomization at ``path`` into ``outPath``."""
    config = typed_config(KustomizeBuildConfig, input)
    base = require_workdir(input.promotion)
    count = await run_blocking(_run, base, config)
    activity.logger.info("kustomize-build: %d resource(s) from %s", count, config.path)
    return StepResult()
