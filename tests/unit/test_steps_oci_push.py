"""oci-push against a real registry (Debian package docker-registry) with token auth."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps.base import STEP_FAILED
from activities.steps.oci_push import oci_push
from tests.gitrepos import step
from tests.registry import (  # noqa: F401
    OCI_INDEX,
    OCI_MANIFEST,
    PASSWORD,
    USER,
    Registry,
    image_config,
    push_artifact,
    push_index,
    registry,
)

env = ActivityEnvironment()
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def repo(prefix: str) -> str:
    return f"{prefix}/app-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_URL", registry.host)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_USERNAME", USER)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_PASSWORD", PASSWORD)
    # oci:// references (Helm charts) use helm credentials, as in Kargo
    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_URL", f"oci://{registry.host}")
    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_USERNAME", USER)
    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_PASSWORD", PASSWORD)


async def push(cfg: dict):
    return await env.run(oci_push, step("p-oci-push", "oci-push", cfg))


async def failure(cfg: dict) -> str:
    with pytest.raises(ApplicationError) as info:
        await push(cfg)
    assert info.value.type == STEP_FAILED and info.value.non_retryable
    return str(info.value)


def fetch(reg: Registry, repository: str, reference: str) -> tuple[dict, str]:
    headers = {**reg.auth_for_push(repository), "Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
    r = httpx.get(f"http://{reg.host}/v2/{repository}/manifests/{reference}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json(), r.headers["Docker-Content-Digest"]


def blob(reg: Registry, repository: str, digest: str) -> bytes:
    r = httpx.get(f"http://{reg.host}/v2/{repository}/blobs/{digest}", headers=reg.auth_for_push(repository),
                  follow_redirects=True)
    assert r.status_code == 200, (digest, r.status_code)
    return r.content


async def test_copy_to_another_repository_keeps_the_digest(registry: Registry, creds: None) -> None:
    src, dst = repo("public"), repo("private")
    pushed = push_artifact(registry, src, "1.0.0", [(b"layer-one", LAYER), (b"layer-two", LAYER)], config=image_config())
    result = await push({"srcRef": f"{registry.host}/{src}:1.0.0", "destRef": f"{registry.host}/{dst}:v1"})
    assert result.outputs == {"image": f"{registry.host}/{dst}:v1", "digest": pushed.digest, "tag": "v1"}
    manifest, digest = fetch(registry, dst, "v1")
    assert digest == pushed.digest
    assert [blob(registry, dst, layer["digest"]) for layer in manifest["layers"]] == [b"layer-one", b"layer-two"]
    assert json.loads(blob(registry, dst, manifest["config"]["digest"]))["os"] == "linux"
    assert PASSWORD not in result.model_dump_json()
    # again (a retried step): the blobs are there already, the result is the same
    assert (await push({"srcRef": f"{registry.host}/{src}@{pushed.digest}", "destRef": f"{registry.host}/{dst}:v1"})).outputs[
        "digest"] == pushed.digest


async def test_retag_in_place_with_annotations(registry: Registry, creds: None) -> None:
    name = repo("private")
    push_artifact(registry, name, "rc1", [(b"chart", LAYER)], annotations={"keep": "me"})
    result = await push({
        "srcRef": f"oci://{registry.host}/{name}:rc1", "destRef": f"oci://{registry.host}/{name}:1.0.0",
        "annotations": {"io.kargo.promotion": "p-1", "index:ignored": "x", "manifest:scoped": "y"},
    })
    manifest, digest = fetch(registry, name, "1.0.0")
    assert result.outputs["digest"] == digest and result.outputs["tag"] == "1.0.0"
    assert manifest["annotations"] == {"keep": "me", "io.kargo.promotion": "p-1", "scoped": "y"}


async def test_an_index_is_copied_in_full_with_scoped_annotations(registry: Registry, creds: None) -> None:
    src, dst = repo("public"), repo("private")
    amd = push_artifact(registry, src, "amd64", [(b"amd-layer", LAYER)], config=image_config())
    arm = push_artifact(registry, src, "arm64", [(b"arm-layer", LAYER)], config=image_config(architecture="arm64"))
    push_index(registry, src, "2.0", [(amd.digest, amd.size, {"os": "linux", "architecture": "amd64"}),
                                      (arm.digest, arm.size, {"os": "linux", "architecture": "arm64"})])
    result = await push({"srcRef": f"{registry.host}/{src}:2.0", "destRef": f"{registry.host}/{dst}:2.0",
                         "annotations": {"index:release": "2.0", "built-by": "ci"}})
    index, digest = fetch(registry, dst, "2.0")
    assert result.outputs["digest"] == digest
    assert index["annotations"] == {"release": "2.0"}
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    for entry, content in zip(index["manifests"], [b"amd-layer", b"arm-layer"]):
        child, child_digest = fetch(registry, dst, entry["digest"])
        assert child_digest == entry["digest"] and child["annotations"] == {"built-by": "ci"}
        assert blob(registry, dst, child["layers"][0]["digest"]) == content


async def test_refusals(registry: Registry, creds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    src = repo("public")
    push_artifact(registry, src, "1", [(b"abc", LAYER)])
    assert "not found" in await failure({"srcRef": f"{registry.host}/{src}:nope", "destRef": f"{registry.host}/{src}:x"})
    monkeypatch.setattr("activities.steps.oci_push.MAX_ARTIFACT", 4)
    assert "blobs hold 5 bytes, more than the limit of 4" in await failure(
        {"srcRef": f"{registry.host}/{src}:1", "destRef": f"{registry.host}/{repo('private')}:1"}
    )
    # a retag moves no blob: no limit
    assert (await push({"srcRef": f"{registry.host}/{src}:1", "destRef": f"{registry.host}/{src}:2"})).status == "Succeeded"
    assert "config field 'destRef'" in await failure({"srcRef": f"{registry.host}/{src}:1", "destRef": f"{registry.host}/{src}@sha256:{'a' * 64}"})
    assert "unknown field 'destRf'; did you mean 'destRef'?" in await failure({"srcRef": "r.io/a:1", "destRf": "r.io/b:1"})


async def test_push_without_credentials_is_denied(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GANTRY_CREDENTIALS_FILE", "GANTRY_IMAGE_CREDENTIALS_1_URL"):
        monkeypatch.delenv(var, raising=False)
    src = repo("public")
    push_artifact(registry, src, "1", [(b"abc", LAYER)])
    text = await failure({"srcRef": f"{registry.host}/{src}:1", "destRef": f"{registry.host}/{repo('public')}:1"})
    assert "denied anonymously" in text
