"""kustomize-build (real kustomize or `kubectl kustomize`), helm-template and
helm-update-chart on real files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.helm_template import NO_HELM, build_command, flat_name, helm_template  # noqa: E402
from contracts.step_configs.helm_template import HelmTemplateConfig  # noqa: E402
from activities.steps.helm_update_chart import helm_update_chart  # noqa: E402
from activities.steps.kustomize_build import kustomize_build  # noqa: E402
from tests.gitrepos import promo, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()
HAVE_KUSTOMIZE = bool(shutil.which("kustomize") or shutil.which("kubectl"))
needs_kustomize = pytest.mark.skipif(not HAVE_KUSTOMIZE, reason="neither kustomize nor kubectl is on PATH")


async def run(fn, promotion: str, uses: str, config: dict):
    return await env.run(fn, step(promotion, uses, config))


async def fails(fn, promotion: str, uses: str, config: dict, field: str) -> str:
    with pytest.raises(ApplicationError) as e:
        await run(fn, promotion, uses, config)
    assert e.value.type == STEP_FAILED and e.value.non_retryable, str(e.value)
    assert field in str(e.value), str(e.value)
    return str(e.value)


def write(promotion: str, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = workdir(promotion) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


# ---------------------------------------------------------------- kustomize-build

APP = {
    "src/base/kustomization.yaml": "resources:\n- deployment.yaml\n- service.yaml\n",
    "src/base/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: uat\nspec:\n  template:\n"
        "    spec:\n      containers:\n      - name: app\n        image: my-app:1.0\n"
    ),
    "src/base/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n  namespace: uat\nspec:\n  ports:\n  - port: 80\n",
    "src/uat/kustomization.yaml": (
        "resources:\n- ../base\n- namespace.yaml\n- other-ns.yaml\n"
        "images:\n- name: my-app\n  newTag: '2.0'\n"
    ),
    "src/uat/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: uat\n",
    "src/uat/other-ns.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: other\n",
}


@needs_kustomize
async def test_kustomize_build_to_one_file(promo: str) -> None:
    write(promo, APP)
    cfg = {"path": "./src/uat", "outPath": "./out/uat.yaml"}
    res = await run(kustomize_build, promo, "kustomize-build", cfg)
    assert res.status == "Succeeded"
    text = (workdir(promo) / "out/uat.yaml").read_text()
    assert "image: my-app:2.0" in text and "kind: Deployment" in text and text.count("\n---\n") == 3
    assert "namespace: uat" in text
    await run(kustomize_build, promo, "kustomize-build", cfg)
    assert (workdir(promo) / "out/uat.yaml").read_text() == text


@needs_kustomize
async def test_kustomize_build_to_a_directory_in_both_formats(promo: str) -> None:
    write(promo, APP)
    await run(kustomize_build, promo, "kustomize-build", {"path": "./src/uat", "outPath": "./out/kargo"})
    out = workdir(promo) / "out/kargo"
    assert sorted(p.name for p in out.iterdir()) == [
        "namespace-uat.yaml",
        "other-configmap-cfg.yaml",
        "uat-deployment-app.yaml",
        "uat-service-app.yaml",
    ]
    assert "image: my-app:2.0" in (out / "uat-deployment-app.yaml").read_text()
    assert "---" not in (out / "uat-deployment-app.yaml").read_text()
    cfg = {"path": "./src/uat", "outPath": "./out/k/", "outputFormat": "kustomize"}
    await run(kustomize_build, promo, "kustomize-build", cfg)
    names = sorted(p.name for p in (workdir(promo) / "out/k").iterdir())
    # several namespaces: namespaced resources get a namespace prefix, as `kustomize build -o` does
    assert names == ["other_v1_configmap_cfg.yaml", "uat_apps_v1_deployment_app.yaml", "uat_v1_service_app.yaml", "v1_namespace_uat.yaml"]
    before = {p.name: p.read_text() for p in (workdir(promo) / "out/k").iterdir()}
    await run(kustomize_build, promo, "kustomize-build", cfg)
    assert {p.name: p.read_text() for p in (workdir(promo) / "out/k").iterdir()} == before
    await run(kustomize_build, promo, "kustomize-build", {"path": "./src/base", "outPath": "./out/b", "outputFormat": "kustomize"})
    assert sorted(p.name for p in (workdir(promo) / "out/b").iterdir()) == ["apps_v1_deployment_app.yaml", "v1_service_app.yaml"]


@needs_kustomize
async def test_kustomize_build_failures(promo: str) -> None:
    write(promo, {**APP, "src/broken/kustomization.yaml": "resources:\n- missing.yaml\n", "file.txt": "x"})
    cases = [
        ({"outPath": "o.yaml"}, "path"),
        ({"path": "./src/uat"}, "outPath"),
        ({"path": "./nowhere", "outPath": "o.yaml"}, "path"),
        ({"path": "./src", "outPath": "o.yaml"}, "path"),
        ({"path": "../..", "outPath": "o.yaml"}, "path"),
        ({"path": "./src/uat", "outPath": "../o.yaml"}, "outPath"),
        ({"path": "./src/uat", "outPath": "file.txt"}, "outPath"),
        ({"path": "./src/uat", "outPath": "o", "outputFormat": "json"}, "outputFormat"),
        ({"path": "./src/uat", "outPath": "o", "plugin": {"helm": {"apiVersions": "v1"}}}, "plugin.helm.apiVersions"),
        ({"path": "./src/broken", "outPath": "o.yaml"}, "path"),
    ]
    for cfg, field in cases:
        await fails(kustomize_build, promo, "kustomize-build", cfg, field)
    assert not (workdir(promo) / "o.yaml").exists()


async def test_kustomize_build_without_any_binary(promo: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(promo, APP)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    msg = await fails(kustomize_build, promo, "kustomize-build", {"path": "./src/uat", "outPath": "o.yaml"}, "kustomize")
    assert "`kustomize` or `kubectl`" in msg and "PATH" in msg


# ---------------------------------------------------------------- helm-template

CHART = {
    "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "charts/app/values.yaml": "replicas: 1\n",
    "charts/app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    "env/uat.yaml": "replicas: 2\n",
}


def test_helm_template_command(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("a: 1\n")
    cfg = {
        "path": "charts/app",
        "outPath": "out",
        "releaseName": "rel",
        "valuesFiles": ["v.yaml", "missing.yaml"],
        "ignoreMissingValueFiles": True,
        "setValues": [{"key": "image.tag", "value": "1.2"}, {"key": "note", "value": "a,b", "literal": True}],
        "includeCRDs": True,
        "kubeVersion": "1.30.0",
        "apiVersions": ["monitoring.coreos.com/v1"],
    }
    cmd, chart, path = build_command(tmp_path, HelmTemplateConfig.model_validate(cfg), "my-project")
    assert cmd == [
        "helm", "template", "rel", str(tmp_path / "charts/app"), "--namespace", "my-project",
        "--values", str(tmp_path / "v.yaml"),
        "--set", "image.tag=1.2", "--set-literal", "note=a,b",
        "--include-crds", "--kube-version", "1.30.0", "--api-versions", "monitoring.coreos.com/v1",
    ]  # fmt: skip
    meta = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "namespace": "uat", "name": "web"}
    assert flat_name(meta) == "networking_k8s_io-ingress-uat-web.yaml"
    assert flat_name({**meta, "apiVersion": "v1", "namespace": ""}) == "ingress-web.yaml"


@pytest.mark.skipif(shutil.which("helm") is not None, reason="helm is installed: the missing-binary error cannot happen")
async def test_helm_template_without_helm_fails_clearly(promo: str) -> None:
    write(promo, CHART)
    cfg = {"path": "./charts/app", "outPath": "./out/app.yaml", "releaseName": "app", "valuesFiles": ["./env/uat.yaml"]}
    msg = await fails(helm_template, promo, "helm-template", cfg, "helm")
    assert NO_HELM in msg
    assert not (workdir(promo) / "out").exists()
    assert NO_HELM in await fails(helm_template, promo, "helm-template", cfg, "helm")  # same on retry


async def test_helm_template_config_failures(promo: str) -> None:
    write(promo, CHART)
    ok = {"path": "./charts/app", "outPath": "out.yaml", "releaseName": "app"}
    cases = [
        ({"outPath": "o.yaml", "releaseName": "a"}, "path"),
        ({"path": "./charts/app", "releaseName": "a"}, "outPath"),
        ({"path": "./charts/app", "outPath": "o.yaml"}, "releaseName"),
        ({**ok, "path": "./env"}, "path"),
        ({**ok, "path": "../x"}, "path"),
        ({**ok, "outPath": "../x"}, "outPath"),
        ({**ok, "valuesFiles": ["./env/missing.yaml"]}, "valuesFiles[0]"),
        ({**ok, "valuesFiles": ["../../etc/passwd"]}, "valuesFiles[0]"),
        ({**ok, "setValues": [{"value": "x"}]}, "setValues[0].key"),
        ({**ok, "setValues": [{"key": "x"}]}, "setValues[0].value"),
        ({**ok, "outLayout": "tree"}, "outLayout"),
        ({**ok, "includeCRDs": "sure"}, "includeCRDs"),
    ]
    for cfg, field in cases:
        await fails(helm_template, promo, "helm-template", cfg, field)


# ---------------------------------------------------------------- helm-update-chart
# Config errors only: a successful run reads real chart repositories, see
# tests/integration/test_helm_update_chart.py.

UMBRELLA = """\
apiVersion: v2
name: umbrella   # the umbrella chart
version: 1.0.0
dependencies:
  # the app itself
  - name: app
    repository: https://charts.example.com
    version: "1.0.0"   # pinned
  - name: redis
    repository: oci://registry.example.com/charts
    version: 17.0.0
"""


async def test_helm_update_chart_failures(promo: str) -> None:
    write(promo, {"c/Chart.yaml": UMBRELLA, "nodeps/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n"})
    app = {"repository": "https://charts.example.com", "name": "app", "version": "2.0.0"}
    cases = [
        ({"charts": [app]}, "path"),
        ({"path": "./nowhere", "charts": [app]}, "path"),
        ({"path": "../..", "charts": [app]}, "path"),
        ({"path": "./c", "charts": []}, "charts"),
        ({"path": "./c", "charts": [{**app, "name": "other"}]}, "charts[0]"),
        ({"path": "./c", "charts": [{**app, "repository": "https://elsewhere"}]}, "charts[0]"),
        ({"path": "./c", "charts": [app, {"name": "redis", "version": "1"}]}, "charts[1].repository"),
        ({"path": "./c", "charts": [{k: v for k, v in app.items() if k != "version"}]}, "charts[0].version"),
        ({"path": "./nodeps", "charts": [app]}, "charts[0]"),
    ]
    for cfg, field in cases:
        await fails(helm_update_chart, promo, "helm-update-chart", cfg, field)
    assert (workdir(promo) / "c/Chart.yaml").read_text() == UMBRELLA
