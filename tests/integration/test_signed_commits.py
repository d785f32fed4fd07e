"""A promotion that signs its commit with a GPG key given by ``secret()`` (issue #15).

git-clone's ``author.signingKey`` is ``${{ secret('signing').key }}``: the worker's
credentials file holds a key made here. The pushed commit verifies (``git verify-commit``)
against the key's public half, and the COMPLETE histories of the promotion, the project
and the Stage hold the private key nowhere, in clear or base64.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client

from tests.conftest import WorkerHandle
from tests.gitrepos import make_remote
from tests.integration.test_no_secrets_in_history import assert_histories_clean
from tests.integration.test_promotion import apply_text
from tests.integration.test_step_semantics import result

pytestmark = pytest.mark.integration

IMAGE = "registry.test/signed"


def manifests(project: str, repo_url: str) -> str:
    author = {"name": "Release Bot", "email": "bot@example.com", "signingKey": "${{ secret('signing').key }}"}
    steps = [
        {"uses": "git-clone", "config": {"repoURL": repo_url, "author": author,
                                         "checkout": [{"branch": "main", "path": "./src"}]}},
        {"uses": "file-write", "config": {"path": "./src/promoted.txt", "contents": "${{ ctx.targetFreight.name }}\n"}},
        {"uses": "git-commit", "config": {"path": "./src", "message": "promote"}},
        {"uses": "git-push", "config": {"path": "./src"}},
    ]  # fmt: skip
    docs = [
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": project}},
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse", "metadata": {"name": "app", "namespace": project},
         "spec": {"subscriptions": [{"image": {"repoURL": IMAGE}}]}},
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage", "metadata": {"name": "dev", "namespace": project},
         "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "app"}, "sources": {"direct": True}}],
                  "promotionTemplate": {"spec": {"steps": steps}}}},
    ]  # fmt: skip
    return "\n---\n".join(json.dumps(d) for d in docs) + "\n"


def gpg(home: Path, *args: str) -> str:
    return subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout


async def test_a_commit_signed_with_a_key_from_secret_verifies_and_the_key_stays_out_of_history(
    worker: WorkerHandle, client: Client, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    try:
        gpg(home, "--passphrase", "", "--quick-gen-key", "Release Bot <bot@example.com>", "ed25519", "sign", "never")
        key = gpg(home, "--armor", "--export-secret-keys", "bot@example.com")
        project = f"signed-{unique}"
        store = tmp_path / "credentials.yaml"
        store.write_text(yaml.safe_dump({"secrets": [{"name": "signing", "project": project, "data": {"key": key}}]}))
        monkeypatch.setenv("GANTRY_CREDENTIALS_FILE", str(store))
        remote = make_remote(tmp_path / "git")

        await apply_text(worker.gantry, manifests(project, remote.url))
        freight = await worker.gantry.create_freight(
            project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": "1.0.0"}]}
        )
        handle = await worker.gantry.promote(project, "dev", freight["name"], actor="tester")
        status = await result(handle, timeout=90)

        assert status.phase == "Succeeded", status
        assert remote.log()[0] == "promote"
        e = {**os.environ, "GNUPGHOME": str(home)}
        subprocess.run(["git", "verify-commit", "main"], cwd=remote.bare, env=e, check=True, capture_output=True)
        signer = subprocess.run(["git", "log", "-1", "--format=%G? %GS", "main"], cwd=remote.bare, env=e,
                                capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        assert signer == "G Release Bot <bot@example.com>"
        body = "".join(line for line in key.splitlines() if line and not line.startswith("-----"))
        await assert_histories_clean(client, handle, project, key, body)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, timeout=30)
