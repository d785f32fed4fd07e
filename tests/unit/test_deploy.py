"""The deployment files in deploy/ render, validate and say what the code expects, without
pulling an image or reaching a cluster.

Kubernetes: each overlay (and the base, and an overlay with the job-mode component) is
rendered with ``kustomize build`` or ``kubectl kustomize``, whichever is on the PATH (the
``kustomize-build`` step needs one of them too). Every rendered document must pass
``kubernetes-validate`` (strict) for Kubernetes ``K8S_VERSION``.

Compose: Debian's ``docker-compose`` is 1.29 and predates the Compose Specification the file
follows (top-level ``name``, ``env_file`` with ``required``), so the file is checked against
the Compose Specification's JSON schema as ``check-jsonschema`` ships it (``vendor.compose-spec``),
and then for what the schema cannot say: ports and volumes name what exists, ``depends_on``
names services, images are pinned. The Dockerfile's entrypoint runs here as ``gantry worker --help`` through
the same argv (tini aside), and every flag the manifests pass to it must be one it knows,
or one of the flags other parts of issue 14 add (``PENDING_FLAGS``).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from workflows.messages import PromotionOptions
from workflows.search_attributes import ALL, CLI_TYPE

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
K8S_VERSION = "1.33.0"

#: `gantry worker` flags the manifests use before the part of issue 14 that adds them lands
PENDING_FLAGS: dict[str, str] = {}

EXPECTED_ATTRIBUTES = {(key.name, CLI_TYPE[key.indexed_value_type]) for key in ALL}


def registered(script: str) -> set[tuple[str, str]]:
    """(name, type) of each `temporal operator search-attribute create` in a shell script.
    One --name per command: given several and one --type, the CLI (1.9) creates only the
    first (seen against `temporal server start-dev`)."""
    found = set()
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line)
        if words[:4] != ["temporal", "operator", "search-attribute", "create"]:
            assert not words, f"only registrations in the script: {line!r}"
            continue
        assert words.count("--name") == 1 and words.count("--type") == 1, line
        found.add((words[words.index("--name") + 1], words[words.index("--type") + 1]))
    return found


def load_all(text: str) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(text) if d is not None]


# -- rendering ---------------------------------------------------------------------------


def kustomize_binary() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(directory: Path) -> list[dict[str, Any]]:
    cmd = kustomize_binary()
    if cmd is None:
        pytest.skip("neither kustomize nor kubectl on the PATH (the kustomize-build step needs one too)")
    done = subprocess.run([*cmd, str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return load_all(done.stdout)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/kubernetes copied, plus `overlays/with-job-mode`: the mTLS overlay with the
    job-mode component, as the component's comment tells operators to add it."""
    root = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(K8S, root)
    (root / "overlays" / "with-job-mode").mkdir()
    (root / "overlays" / "with-job-mode" / "kustomization.yaml").write_text(
        "resources: [../self-hosted-mtls]\ncomponents: [../../components/job-mode]\n"
    )
    return root


VARIANTS = ["base", *(f"overlays/{o}" for o in OVERLAYS), "overlays/with-job-mode"]


@pytest.fixture(scope="module")
def rendered(tree: Path) -> dict[str, list[dict[str, Any]]]:
    return {variant: render(tree / variant) for variant in VARIANTS}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = by_kind(docs, kind)
    return doc


def test_the_overlays_are_the_two_documented() -> None:
    assert OVERLAYS == ["self-hosted-mtls", "temporal-cloud"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_document_is_valid_kubernetes(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    docs = rendered[variant]
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:  # pragma: no cover - the message is the point
            pytest.fail(f"{variant}: {doc['kind']}/{doc['metadata']['name']}: {err.message} at {list(err.path)}")


# -- what the manifests say --------------------------------------------------------------


def worker_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def settings(docs: list[dict[str, Any]]) -> dict[str, str]:
    return one(docs, "ConfigMap")["data"]


def test_workers_deployment(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["base"]
    deployment = one(docs, "Deployment")
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    assert spec["replicas"] == 2
    # docs/architecture.md "Deploying": stop the old workers, then start the new ones
    assert spec["strategy"]["type"] == "Recreate"
    heartbeat = PromotionOptions().step_heartbeat_timeout.total_seconds()
    assert pod["terminationGracePeriodSeconds"] > 2 * heartbeat
    container = worker_container(docs)
    assert container["image"].startswith("ghcr.io/") and ":" in container["image"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    health = next(p["containerPort"] for p in container["ports"] if p["name"] == "health")
    assert container["args"][container["args"].index("--health-port") + 1] == str(health)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]} == {
        one(docs, "ConfigMap")["metadata"]["name"],
        one(docs, "Secret")["metadata"]["name"],
    }
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert settings(docs)["GANTRY_WORK_DIR"] in mounts
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_budget_and_account(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["base"]
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    account = one(docs, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert not by_kind(docs, "Role") and not by_kind(docs, "RoleBinding") and not by_kind(docs, "ClusterRoleBinding")


def test_settings_are_the_variables_the_worker_reads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    import typer

    from client.cli import app

    command = typer.main.get_command(app)
    known = {p.envvar for p in command.params if p.envvar}
    worker = command.commands["worker"]  # type: ignore[attr-defined]
    known |= {p.envvar for p in worker.params if p.envvar}
    known |= {"TEMPORAL_TLS", "GANTRY_MAX_CACHED_WORKFLOWS", "GANTRY_JOB_KUBERNETES_API"}
    for variant in VARIANTS:
        assert set(settings(rendered[variant])) <= known, variant


def test_search_attribute_job_registers_exactly_gantrys(rendered: dict[str, list[dict[str, Any]]]) -> None:
    job = one(rendered["base"], "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-ec"]
    assert registered(container["args"][0]) == EXPECTED_ATTRIBUTES
    assert container["image"] == worker_container(rendered["base"])["image"]


def test_mtls_overlay(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["overlays/self-hosted-mtls"]
    data = settings(docs)
    paths = [data[k] for k in ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH")]
    for workload in (one(docs, "Deployment"), one(docs, "Job")):
        pod = workload["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        for path in paths:
            directory, _, filename = path.rpartition("/")
            assert directory in mounts and mounts[directory] in secrets, path
            assert filename in ("tls.crt", "tls.key", "ca.crt")  # the keys of a kubernetes.io/tls Secret + CA


def test_cloud_overlay(rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    docs = rendered["overlays/temporal-cloud"]
    assert not by_kind(docs, "Job"), "Temporal Cloud takes search attributes through tcld or its UI"
    env = {e["name"]: e for e in worker_container(docs)["env"]}
    assert env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]["name"]
    data = settings(docs)
    assert data["TEMPORAL_ADDRESS"].endswith(".api.temporal.io:7233")
    # the worker's client, given these variables, connects with TLS and the key
    from temporalio.envconfig import ClientConfig

    for name, value in {**data, "TEMPORAL_API_KEY": "key"}.items():
        monkeypatch.setenv(name, value)
    config = ClientConfig.load_client_connect_config()
    assert config["tls"] and config["api_key"] == "key" and config["namespace"] == data["TEMPORAL_NAMESPACE"]


def test_job_mode_component(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["overlays/with-job-mode"]
    (role,) = by_kind(docs, "Role")
    assert not by_kind(docs, "ClusterRole")
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"jobs", "pods", "pods/log"}
    binding = one(docs, "RoleBinding")
    assert binding["subjects"][0]["name"] == one(docs, "ServiceAccount")["metadata"]["name"]
    env = {e["name"]: e for e in worker_container(docs)["env"]}
    api = env["GANTRY_JOB_KUBERNETES_API"]["value"]
    assert env["GANTRY_HTTP_CREDENTIALS_99_URL"]["value"].rstrip("/") == api
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


# -- compose -----------------------------------------------------------------------------

COMPOSE = DEPLOY / "compose" / "docker-compose.yaml"
PORT = re.compile(r"^((\d{1,3}\.){3}\d{1,3}:)?\d{1,5}(:\d{1,5})?(/(tcp|udp))?$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return YAML(typ="safe").load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_basics(compose: dict[str, Any]) -> None:
    services = compose["services"]
    named_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
        if ":" in service.get("image", ":"):
            tag = service.get("image", "x:y").rsplit(":", 1)[1]
            assert tag and tag != "latest", f"{name}: pin the image tag"
        for port in service.get("ports") or []:
            assert isinstance(port, str) and PORT.match(port), f"{name}: {port!r}"
        for volume in service.get("volumes") or []:
            source, _, target = volume.partition(":")
            assert target.split(":")[0].startswith("/"), f"{name}: {volume!r}"
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {volume!r}"
            else:
                assert source in named_volumes, f"{name}: {volume!r}"
        depends = service.get("depends_on") or {}
        assert set(depends) <= set(services), name
        for dependency in depends.values() if isinstance(depends, dict) else ():
            assert dependency["condition"] in ("service_started", "service_healthy", "service_completed_successfully")
    healthy = {d for s in services.values() for d, c in (s.get("depends_on") or {}).items() if c["condition"] == "service_healthy"}
    assert all("healthcheck" in services[d] for d in healthy)


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    workers = {n: s for n, s in services.items() if n.startswith("worker-")}
    assert len(workers) == 2
    assert len({s["volumes"][0] for s in workers.values()}) == 2, "each worker has its own work dir"
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["codec-server"]["profiles"] == ["codec"]
    registration = services["search-attributes"]
    assert registration["entrypoint"] == ["/bin/sh", "-ec"]
    assert registered(registration["command"][0]) == EXPECTED_ATTRIBUTES
    assert all(s["depends_on"]["search-attributes"]["condition"] == "service_completed_successfully" for s in workers.values())
    prometheus = YAML(typ="safe").load((COMPOSE.parent / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{s['hostname']}:9464" for s in workers.values()}
    assert all(s["command"] == ["--metrics-port", "9464"] for s in workers.values())


# -- the image's entrypoint --------------------------------------------------------------

DOCKERFILE = DEPLOY / "Dockerfile"


def entrypoint() -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ENTRYPOINT ")]
    argv = json.loads(lines[-1].removeprefix("ENTRYPOINT "))
    assert argv[:2] == ["tini", "--"]
    return argv[2:]


def test_dockerfile_pins_and_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}$", text, re.M) and "ARG PYTHON_IMAGE=python:3.11-slim" in text
    sums = re.findall(r"^ARG \w+_SHA256_\w+=(\S+)$", text, re.M)
    assert len(sums) == 4 and all(re.fullmatch(r"[0-9a-f]{64}", s) for s in sums)
    assert re.search(r"sha256sum -c", text)
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "GANTRY_WORK_DIR=/work" in text and "pip install --no-cache-dir --prefix=/install ." in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored and "README.md" not in ignored  # pyproject's readme


def run_entrypoint(*args: str) -> subprocess.CompletedProcess[str]:
    argv = entrypoint()
    assert argv == ["gantry", "worker"]
    gantry = Path(sys.executable).parent / argv[0]
    return subprocess.run(
        [str(gantry), *argv[1:], *args], capture_output=True, text=True, timeout=60,
        env={"PATH": str(gantry.parent), "PYTHONPATH": str(REPO), "HOME": "/nonexistent", "COLUMNS": "200"},
    )  # fmt: skip


def test_entrypoint_runs() -> None:
    done = run_entrypoint("--help")
    assert done.returncode == 0, done.stderr
    assert "--work-dir" in done.stdout


def test_manifest_flags_are_known_or_pending(rendered: dict[str, list[dict[str, Any]]], compose: dict[str, Any]) -> None:
    """Every flag the manifests pass to `gantry worker` (and the compose codec server's to
    `gantry codec-server`) is one that command has."""
    help_text = run_entrypoint("--help").stdout
    services = compose["services"]
    used = [a for a in worker_container(rendered["base"])["args"] if a.startswith("--")]
    used += [a for n, svc in services.items() if n.startswith("worker-") for a in svc.get("command") or [] if a.startswith("--")]
    for flag in used:
        assert flag in help_text or flag in PENDING_FLAGS, flag
    gantry = Path(sys.executable).parent / "gantry"
    codec_help = subprocess.run(
        [str(gantry), "codec-server", "--help"], capture_output=True, text=True, timeout=60,
        env={"PATH": str(gantry.parent), "PYTHONPATH": str(REPO), "HOME": "/nonexistent", "COLUMNS": "200"},
    ).stdout  # fmt: skip
    for flag in (a for a in services["codec-server"]["command"] if a.startswith("--")):
        assert flag in codec_help, flag


def test_docs_name_files_that_exist() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"`(deploy/[\w./-]+)`", text))
    assert {"deploy/Dockerfile", "deploy/compose/", "deploy/kubernetes/base/"} <= named
    for path in named - {"deploy/compose/gantry.env"}:  # the operator's credentials, git-ignored
        assert (REPO / path).exists(), path
    for overlay in OVERLAYS:
        assert f"overlays/{overlay}" in text
