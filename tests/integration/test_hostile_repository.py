"""A whole promotion from a hostile GitOps repository, on a worker that holds git and HTTP
credentials (issue #10's acceptance test).

Somebody with commit rights only has committed:
- a kustomization whose configMapGenerator reads ``/proc/self/environ`` (and one that reads
  it through a committed symlink);
- a symlink to a folder outside the working directory, which the promotion then copies
  into and renders into;
- a git config with a ``core.fsmonitor`` command, which the promotion copies onto
  ``.git/config`` directly and through a committed symlink to it;
and the Stage's steps use option-like refs (``--upload-pack=...``). Every hostile step has
``continueOnError`` so one promotion exercises them all; a last, honest change is committed
and pushed.

Checked afterwards: each hostile step failed with a clear message; nothing outside the
working directory changed and no planted command ran; the pushed remote holds no credential
value in any object; neither do the promotion's status, the promotion's, project's and
stage's histories, nor the worker's log. The worker is a subprocess (``python worker.py``)
whose environment holds the credentials, as in production.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from temporalio.client import Client

from client.api import Gantry
from tests.githttp import GitHTTPServer
from tests.gitrepos import git
from tests.integration.test_no_secrets_in_history import USER, assert_histories_clean, assert_nowhere
from tests.integration.test_promotion import apply_text
from tests.pipelines import project_with_warehouse
from tests.unit.test_steps_paths_trust import snapshot
from tests.workerproc import WorkerPool

pytestmark = pytest.mark.integration

needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="needs kustomize or kubectl on PATH"
)


def hostile_repo(root: Path, outside: Path, marker: Path) -> Path:
    """A bare repository with the attacker's commit on main."""
    bare = root / "hostile.git"
    seed = root / "seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    files = {
        "evil-env/kustomization.yaml": (
            "configMapGenerator:\n- name: leak\n  files:\n  - env=/proc/self/environ\n"
        ),
        "evil-link/kustomization.yaml": "configMapGenerator:\n- name: leak\n  files:\n  - env=environ\n",
        "ok/kustomization.yaml": "configMapGenerator:\n- name: fine\n  literals:\n  - a=b\n",
        "payload/file.txt": "payload\n",
        "fsmonitor.config": (
            "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
            f"\tfsmonitor = touch {marker}-fsmonitor; false\n"
            f"[remote \"origin\"]\n\turl = {outside}/fake\n"
        ),
        "notes.txt": "before\n",
    }
    for path, text in files.items():
        (seed / path).parent.mkdir(parents=True, exist_ok=True)
        (seed / path).write_text(text)
    os.symlink("/proc/self/environ", seed / "evil-link" / "environ")
    os.symlink(str(outside), seed / "out-link")
    os.symlink(".git/config", seed / "cfg")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "hostile", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return bare


def manifests(project: str, url: str, marker: Path) -> str:
    hostile = [
        ("env-generator", "kustomize-build", {"path": "./src/evil-env", "outPath": "./src/rendered/env.yaml"}),
        ("env-via-symlink", "kustomize-build", {"path": "./src/evil-link", "outPath": "./src/rendered/env2.yaml"}),
        ("render-out", "kustomize-build", {"path": "./src/ok", "outPath": "./src/out-link/rendered.yaml"}),
        ("copy-out", "copy", {"inPath": "./src/payload", "outPath": "./src/out-link/payload"}),
        ("copy-git-config", "copy", {"inPath": "./src/fsmonitor.config", "outPath": "./src/.git/config"}),
        ("copy-via-link", "copy", {"inPath": "./src/fsmonitor.config", "outPath": "./src/cfg"}),
        (
            "option-branch",
            "git-clone",
            {"repoURL": url, "checkout": [{"branch": f"--upload-pack=touch {marker}-branch", "path": "./b"}]},
        ),
        (
            "option-commit",
            "git-clone",
            {"repoURL": url, "checkout": [{"commit": f"--upload-pack=touch {marker}-commit", "path": "./c"}]},
        ),
        (
            "option-url",
            "git-clone",
            {"repoURL": f"--upload-pack=touch {marker}-url", "checkout": [{"branch": "main", "path": "./d"}]},
        ),
        ("option-push", "git-push", {"path": "./src", "targetBranch": f"--receive-pack=touch {marker}-push"}),
    ]
    steps = [f"      - uses: git-clone\n        config:\n          repoURL: {url}\n          checkout:\n          - branch: main\n            path: ./src\n"]
    for alias, uses, config in hostile:
        steps.append(f"      - uses: {uses}\n        as: {alias}\n        continueOnError: true\n        config: {_flow(config)}\n")
    steps.append("      - uses: copy\n        as: honest\n        config: {inPath: ./src/payload/file.txt, outPath: ./src/notes.txt}\n")
    steps.append("      - uses: git-commit\n        config: {path: ./src, message: honest change}\n")
    steps.append("      - uses: git-push\n        config: {path: ./src, targetBranch: main}\n")
    return project_with_warehouse(project, "registry.test/app") + f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: {project}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      direct: true
  promotionTemplate:
    spec:
      steps:
{"".join(steps)}"""


def _flow(value: object) -> str:
    """A YAML flow value (JSON is YAML): keeps option-like strings quoted."""
    import json

    return json.dumps(value)


def all_objects_text(bare: Path) -> str:
    """The content of every object in the repository (commits, trees, blobs)."""
    listing = subprocess.run(
        ["git", "--git-dir", str(bare), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    return listing.decode("utf-8", "replace")


@needs_kustomize
async def test_promotion_from_a_hostile_repository(
    client: Client, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    git_password = f"Gp{secrets.token_urlsafe(24)}-pw"
    http_password = f"Hp{secrets.token_urlsafe(24)}-pw"
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "victim.txt").write_text("untouched\n")
    marker = tmp_path / "ran"
    bare = hostile_repo(tmp_path / "remote", outside, marker)
    before_outside = snapshot(outside)

    with GitHTTPServer(bare.parent, USER, git_password) as server:
        url = server.url_for(bare)
        env = {
            "GANTRY_GIT_CREDENTIALS_1_URL": url,
            "GANTRY_GIT_CREDENTIALS_1_USERNAME": USER,
            "GANTRY_GIT_CREDENTIALS_1_PASSWORD": git_password,
            "GANTRY_HTTP_CREDENTIALS_1_URL": "https://api.example.test/",
            "GANTRY_HTTP_CREDENTIALS_1_PASSWORD": http_password,
        }
        task_queue = f"gantry-hostile-{unique}"
        pool = WorkerPool(temporal_address, task_queue, tmp_path, env=env)
        pool.start("hostile-host")
        try:
            gantry = Gantry(client, task_queue)
            project = f"hostile-{unique}"
            await apply_text(gantry, manifests(project, url, marker))
            freight = await gantry.create_freight(
                project,
                {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "6.6.6"}]},
            )
            handle = await gantry.promote(project, "dev", freight["name"])
            status = await asyncio.wait_for(handle.result(), 180)
        finally:
            pool.stop_all()
        log = pool.log_tail(10_000_000)

    steps = {s.alias: s for s in status.steps}
    assert steps["step-1"].status == "Succeeded", status
    expected = {
        "env-generator": "security",
        "env-via-symlink": "security",
        "render-out": "outside",
        "copy-out": "outside",
        "copy-git-config": ".git",
        "copy-via-link": ".git",
        "option-branch": "branch",
        "option-commit": "commit",
        "option-url": "repoURL",
        "option-push": "targetBranch",
    }
    for alias, word in expected.items():
        step = steps[alias]
        assert step.status in ("Failed", "Errored"), (alias, step)
        assert step.message and word.lower() in step.message.lower(), (alias, step.message)
        assert "Traceback" not in step.message, (alias, step.message)
    assert steps["honest"].status == "Succeeded", status
    assert status.phase == "Succeeded", status

    # the honest change landed, nothing else did
    assert git("--git-dir", str(bare), "show", "main:notes.txt") == "payload"
    assert git("--git-dir", str(bare), "log", "-1", "--format=%s", "main") == "honest change"

    # nothing outside the working directory changed, no planted command ran
    assert snapshot(outside) == before_outside
    assert not list(tmp_path.glob("ran*")), list(tmp_path.glob("ran*"))

    # no credential anywhere
    remote_text = all_objects_text(bare)
    for secret in (git_password, http_password):
        assert_nowhere(secret, "the pushed remote", remote_text)
        assert_nowhere(secret, "the promotion's status", status.model_dump_json())
        assert_nowhere(secret, "the worker's log", log)
    await assert_histories_clean(client, handle, project, git_password, http_password)
