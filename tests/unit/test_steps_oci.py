"""oci-download against a real registry (Debian package docker-registry), with token
and basic authentication."""

from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.oci import parse_reference  # noqa: E402
from activities.steps.base import STEP_FAILED, WORKDIR_LOST, workdir  # noqa: E402
from activities.steps.oci_download import oci_download  # noqa: E402
from tests.gitrepos import promo, step, work_root  # noqa: E402,F401
from tests.registry import (  # noqa: E402,F401
    PASSWORD,
    USER,
    Registry,
    basic_registry,
    push_artifact,
    push_index,
    registry,
)

env = ActivityEnvironment()
CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"


def repo(prefix: str) -> str:
    return f"{prefix}/app-{uuid.uuid4().hex[:8]}"


async def download(promo: str, cfg: dict, alias: str = "dl"):
    return await env.run(oci_download, step(promo, "oci-download", cfg, alias=alias))


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch):
    def set_for(reg: Registry, prefix: str = "") -> None:
        monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_URL", f"{reg.host}/{prefix}".rstrip("/"))
        monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_USERNAME", USER)
        monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_PASSWORD", PASSWORD)

    return set_for


async def test_anonymous_token_flow_first_layer(promo: str, registry: Registry) -> None:
    name = repo("public")
    pushed = push_artifact(registry, name, "1.0.0", [(b"chart-bytes", CHART), (b"prov", PROV)])
    before = len(registry.tokens.requests)  # type: ignore[attr-defined]
    res = await download(promo, {"imageRef": f"{registry.host}/{name}:1.0.0", "outPath": "charts/app.tgz"})
    assert (workdir(promo) / "charts/app.tgz").read_bytes() == b"chart-bytes"
    assert res.status == "Succeeded" and "11 bytes" in res.message
    asked = registry.tokens.requests[before:]  # type: ignore[attr-defined]
    assert asked and asked[0]["scope"] == f"repository:{name}:pull" and not asked[0]["authenticated"]
    # by digest, picking a layer by media type
    res = await download(
        promo,
        {"imageRef": f"oci://{registry.host}/{name}@{pushed.digest}", "outPath": "prov", "mediaType": PROV},
        alias="dl2",
    )
    assert (workdir(promo) / "prov").read_bytes() == b"prov"


async def test_private_repository_needs_credentials(promo: str, registry: Registry, creds) -> None:
    name = repo("private")
    push_artifact(registry, name, "v1", [(b"secret-manifests", "application/x-tar")])
    cfg = {"imageRef": f"{registry.host}/{name}:v1", "outPath": "out.tar"}
    with pytest.raises(ApplicationError) as e:
        await download(promo, cfg)
    assert e.value.type == STEP_FAILED and "imageRef" in str(e.value) and "denied" in str(e.value)
    assert not (workdir(promo) / "out.tar").exists()
    creds(registry, "private")
    res = await download(promo, cfg)
    assert (workdir(promo) / "out.tar").read_bytes() == b"secret-manifests"
    assert PASSWORD not in res.model_dump_json()
    asked = registry.tokens.requests[-1]  # type: ignore[attr-defined]
    assert asked["authenticated"] and asked["service"] == "gantry-test-registry"


async def test_basic_auth_registry(promo: str, basic_registry: Registry, creds) -> None:
    name = repo("team")
    push_artifact(basic_registry, name, "v2", [(b"basic-layer", "application/octet-stream")])
    cfg = {"imageRef": f"{basic_registry.host}/{name}:v2", "outPath": "a/b/c.bin"}
    with pytest.raises(ApplicationError) as e:
        await download(promo, cfg)
    assert e.value.type == STEP_FAILED and "no credentials configured" in str(e.value)
    creds(basic_registry)
    await download(promo, cfg)
    assert (workdir(promo) / "a/b/c.bin").read_bytes() == b"basic-layer"


async def test_index_resolves_to_linux_amd64(promo: str, registry: Registry) -> None:
    name = repo("public")
    arm = push_artifact(registry, name, "arm", [(b"arm64", "application/octet-stream")])
    amd = push_artifact(registry, name, "amd", [(b"amd64", "application/octet-stream")])
    push_index(registry, name, "multi", [
        (arm.digest, arm.size, {"os": "linux", "architecture": "arm64"}),
        (amd.digest, amd.size, {"os": "linux", "architecture": "amd64"}),
    ])
    await download(promo, {"imageRef": f"{registry.host}/{name}:multi", "outPath": "bin"})
    assert (workdir(promo) / "bin").read_bytes() == b"amd64"


async def test_overwrite_rules_and_idempotent_retry(promo: str, registry: Registry) -> None:
    name = repo("public")
    push_artifact(registry, name, "v1", [(b"one", "text/plain")])
    push_artifact(registry, name, "v2", [(b"two", "text/plain")])
    v1 = {"imageRef": f"{registry.host}/{name}:v1", "outPath": "f.txt"}
    await download(promo, v1)
    res = await download(promo, v1)  # the same step again (a retry): done, nothing fetched
    assert "already downloaded" in res.message
    (workdir(promo) / "other.txt").write_text("mine")
    for cfg, alias in [({**v1, "outPath": "other.txt"}, "dl"), (v1, "another-step")]:
        with pytest.raises(ApplicationError) as e:
            await download(promo, cfg, alias=alias)
        assert e.value.type == STEP_FAILED and "outPath" in str(e.value) and "allowOverwrite" in str(e.value)
    await download(promo, {"imageRef": f"{registry.host}/{name}:v2", "outPath": "f.txt", "allowOverwrite": True})
    assert (workdir(promo) / "f.txt").read_text() == "two"
    assert not [p for p in workdir(promo).iterdir() if p.name.endswith(".tmp")]


async def test_failures_name_the_field(promo: str, registry: Registry) -> None:
    name = repo("public")
    push_artifact(registry, name, "v1", [(b"x", "text/plain")])
    cases = [
        ({"imageRef": f"{registry.host}/{name}:nope", "outPath": "x"}, "imageRef", "not found"),
        ({"imageRef": f"{registry.host}/{name}:v1", "outPath": "x", "mediaType": "a/b"}, "mediaType", "text/plain"),
        ({"imageRef": f"{registry.host}/{name}", "outPath": "x"}, "imageRef", "tag or digest"),
        ({"imageRef": f"{registry.host}/{name}:v1", "outPath": "../x"}, "outPath", "leaves"),
        ({"imageRef": f"{registry.host}/{name}:v1"}, "outPath", "required"),
        ({"imageRef": f"{registry.host}/{name}:v1", "outPath": "x", "tag": "v1"}, "tag", "unknown field"),
    ]
    for cfg, field, text in cases:
        with pytest.raises(ApplicationError) as e:
            await download(promo, cfg)
        assert e.value.type == STEP_FAILED and field in str(e.value) and text in str(e.value), (cfg, str(e.value))


async def test_unreachable_registry_is_retryable(promo: str) -> None:
    from tests.registry import free_port

    with pytest.raises(ApplicationError) as e:
        await download(promo, {"imageRef": f"127.0.0.1:{free_port()}/a/b:v1", "outPath": "x"})
    assert not e.value.non_retryable and e.value.type == "HTTPError"


async def test_needs_the_workdir(work_root: Path) -> None:
    with pytest.raises(ApplicationError) as e:
        await env.run(oci_download, step("lost", "oci-download", {"imageRef": "a.io/b:c", "outPath": "x"}))
    assert e.value.type == WORKDIR_LOST


def test_parse_reference() -> None:
    r = parse_reference("nginx:1.25")
    assert (r.registry, r.repository, r.tag, r.api_host, r.scheme) == (
        "docker.io", "library/nginx", "1.25", "registry-1.docker.io", "https")
    r = parse_reference("oci://ghcr.io/org/charts/app@sha256:" + hashlib.sha256(b"").hexdigest())
    assert (r.registry, r.repository, r.cred_type, r.tag) == ("ghcr.io", "org/charts/app", "helm", "")
    r = parse_reference("localhost:5000/team/app:v1")
    assert (r.registry, r.scheme, r.base_url) == ("localhost:5000", "http", "http://localhost:5000/v2/team/app")
    assert parse_reference("org/app:v1").repository == "org/app"
