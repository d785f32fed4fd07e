"""toml-parse, toml-update, tar, untar, argocd-wait, oci-push and github-push, each in a
real promotion on the dev server: real git, the real registry, the Argo CD and GitHub fakes."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import WorkerHandle, wait_for
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.github import GitHubFake
from tests.gitrepos import git, make_remote
from tests.integration.test_promotion_tasks import argocd  # noqa: F401  (fixture)
from tests.integration.test_step_semantics import by_alias, result, run, start
from tests.registry import OCI_MANIFEST, PASSWORD, USER, Registry, image_config, push_artifact, registry  # noqa: F401
from workflows.messages import PromotionStatus

pytestmark = pytest.mark.integration

SETTINGS = """\
# app settings
[image]
name = "registry.test/app"
tag = "1.0.0"  # set by Kargo

[[servers]]
host = "a.example.com"
"""


async def test_toml_tar_untar_promotion_pushes_the_edited_files(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    remote = make_remote(tmp_path / "git", {
        "config/settings.toml": SETTINGS,
        "charts/app/Chart.yaml": "name: app\n",
        "charts/app/templates/deploy.yaml": "kind: Deployment\n",
        "charts/app/notes.log": "ignore me\n",
        "base/README.md": "base\n",
    })
    steps = [
        {"uses": "git-clone", "config": {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}]}},
        {"uses": "toml-update", "as": "bump", "config": {"path": "./src/config/settings.toml", "updates": [
            {"key": "image.tag", "value": "${{ imageFrom('registry.test/app').Tag }}"},
            {"key": "servers.0.host", "value": "b.example.com"}]}},
        {"uses": "toml-parse", "as": "read", "config": {"path": "./src/config/settings.toml", "outputs": [
            {"name": "tag", "fromExpression": "image.tag"}, {"name": "host", "fromExpression": "servers[0].host"}]}},
        {"uses": "tar", "config": {"inPath": "./src/charts/app", "outPath": "./bundle/app.tgz", "gzip": True,
                                   "ignore": "*.log"}},
        {"uses": "untar", "config": {"inPath": "./bundle/app.tgz", "outPath": "./src/vendored/app"}},
        {"uses": "git-commit", "config": {"path": "./src", "message": "${{ outputs.bump.commitMessage }}"}},
        {"uses": "git-push", "config": {"path": "./src", "targetBranch": "main"}},
    ]
    status = await run(worker, unique, steps)
    assert status.phase == "Succeeded", status
    assert status.state["read"] == {"tag": "1.2.3", "host": "b.example.com"}
    assert remote.show("config/settings.toml") == SETTINGS.replace('"1.0.0"', '"1.2.3"').replace("a.example", "b.example").rstrip("\n")
    assert remote.show("vendored/app/templates/deploy.yaml") == "kind: Deployment"
    assert "notes.log" not in remote.show("vendored/app", "main")
    assert remote.log()[0] == "Updated ./src/config/settings.toml"


async def test_untar_of_a_hostile_archive_fails_the_promotion(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as t:
        info = tarfile.TarInfo("../../escaped")
        info.size = 2
        t.addfile(info, io.BytesIO(b"x\n"))
    remote = make_remote(tmp_path / "git", {"evil.tgz": "", "base/README.md": "base\n"})
    (remote.tmp / "seed" / "evil.tgz").write_bytes(evil.getvalue())
    git("commit", "-qam", "evil", cwd=remote.tmp / "seed")
    git("push", "-q", str(remote.bare), "main", cwd=remote.tmp / "seed")
    steps = [
        {"uses": "git-clone", "config": {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}]}},
        {"uses": "untar", "as": "x", "config": {"inPath": "./src/evil.tgz", "outPath": "./out"}},
    ]
    status = await run(worker, unique, steps)
    assert status.phase == "Failed"
    assert "entry '../../escaped' has a '..' part" in by_alias(status)["x"].message
    assert not list(worker.work_dir.parent.rglob("escaped"))


async def test_argocd_update_then_wait(worker: WorkerHandle, argocd: FakeArgoCD, unique: str) -> None:  # noqa: F811
    project = f"sem-{unique}"
    argocd.add_app(f"app-{unique}", authorized_stage=f"{project}:s")
    steps = [
        {"uses": "argocd-update", "config": {"apps": [{"name": f"app-{unique}"}]}},
        {"uses": "argocd-wait", "as": "wait", "config": {"apps": [{"name": f"app-{unique}"}]}},
    ]
    status = await result(*(await start(worker, unique, steps))[:1], timeout=60)
    assert status.phase == "Succeeded", status
    assert status.state["wait"] == {"apps": [{"name": f"app-{unique}", "namespace": "argocd"}]}


async def test_argocd_wait_polls_until_healthy(worker: WorkerHandle, argocd: FakeArgoCD, unique: str) -> None:  # noqa: F811
    name = f"app-{unique}"
    argocd.add_app(name)  # no authorized-stage annotation: argocd-wait only reads
    with argocd.lock:
        argocd.apps[("argocd", name)]["status"].update(health={"status": "Progressing"}, sync={"status": "Synced"})
    handle, _, _ = await start(worker, unique, [{"uses": "argocd-wait", "as": "wait", "config": {"apps": [{"name": name}]}}])

    async def waiting() -> bool:
        now = await handle.query("status", result_type=PromotionStatus)
        return bool(now.steps) and "health Progressing" in (now.steps[0].message or "")

    await wait_for(waiting, timeout=30, message="argocd-wait reporting Progressing")
    with argocd.lock:
        argocd.apps[("argocd", name)]["status"]["health"] = {"status": "Healthy"}
    status = await result(handle, timeout=60)
    assert status.phase == "Succeeded", status


async def test_oci_push_copies_to_the_real_registry(
    worker: WorkerHandle, registry: Registry, unique: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_URL", registry.host)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_USERNAME", USER)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_PASSWORD", PASSWORD)
    src, dst = f"public/app-{uuid.uuid4().hex[:8]}", f"private/prod-{uuid.uuid4().hex[:8]}"
    pushed = push_artifact(registry, src, "1.2.3", [(b"layer", "application/vnd.oci.image.layer.v1.tar")],
                           config=image_config())
    steps = [
        {"uses": "oci-push", "as": "push", "config": {
            "srcRef": f"{registry.host}/{src}:${{{{ imageFrom('registry.test/app').Tag }}}}",
            "destRef": f"{registry.host}/{dst}:release"}},
        {"uses": "compose-output", "as": "seen", "config": {"digest": "${{ outputs.push.digest }}"}},
    ]
    handle, _, _ = await start(worker, unique, steps)
    status = await result(handle, timeout=60)
    assert status.phase == "Succeeded", status
    assert status.state["push"] == {"image": f"{registry.host}/{dst}:release", "digest": pushed.digest, "tag": "release"}
    assert status.state["seen"] == {"digest": pushed.digest}
    r = httpx.get(f"http://{registry.host}/v2/{dst}/manifests/release",
                  headers={**registry.auth_for_push(dst), "Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == pushed.digest
    async for event in handle.fetch_history_events():  # the registry password never enters history
        assert PASSWORD not in str(event)


async def test_github_push_in_a_promotion(
    worker: WorkerHandle, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghp_promotion-t0ken"
    seed = tmp_path / "seed"
    git("init", "-q", "-b", "main", str(seed))
    (seed / "app.yaml").write_text("image: app:1.0\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "initial layout", cwd=seed)
    with GitHubFake(tmp_path / "srv", token=token) as gh:
        gh.add_repo("org/deploy", seed)
        monkeypatch.delenv("GANTRY_CREDENTIALS_FILE", raising=False)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", gh.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", token)
        steps = [
            {"uses": "git-clone", "config": {"repoURL": gh.repo_url("org/deploy"),
                                             "checkout": [{"branch": "main", "path": "./src"}]}},
            {"uses": "file-write", "config": {"path": "./src/app.yaml", "overwrite": True,
                                              "contents": "image: app:${{ imageFrom('registry.test/app').Tag }}\n"}},
            {"uses": "git-commit", "config": {"path": "./src", "message": "promote 1.2.3"}},
            {"uses": "github-push", "as": "push", "config": {"path": "./src", "targetBranch": "main"}},
        ]
        handle, _, _ = await start(worker, unique, steps)
        status = await result(handle, timeout=60)
        assert status.phase == "Succeeded", status
        head = git("rev-parse", "main", cwd=gh.bare("org/deploy"))
        assert status.state["push"]["commit"] == head and status.state["push"]["branch"] == "main"
        assert git("show", "main:app.yaml", cwd=gh.bare("org/deploy")) == "image: app:1.2.3"
        async for event in handle.fetch_history_events():  # the token never enters history
            assert token not in str(event)
