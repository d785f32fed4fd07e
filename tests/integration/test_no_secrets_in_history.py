"""No secret ever reaches Temporal: a promotion into a git remote that demands basic auth,
with the credentials in the worker's credential store (environment variables, or a
credentials file), succeeds; then the COMPLETE history of the promotion and of its project
workflow is read, and the password appears nowhere in it: not in clear, not in base64 at
any alignment (Temporal payloads are base64 in the JSON form of a history), not in any
decoded payload, nor in the promotion's result and step outputs.

The worker is the in-process ``worker`` fixture, so ``monkeypatch`` reaches the
credential store the steps read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import WorkerHandle
from tests.githttp import GitHTTPServer
from tests.integration.test_promotion import apply_text
from tests.pipelines import GitOpsRepo, make_gitops_repo, pipeline_manifests
from workflows.ids import project_workflow_id, stage_workflow_id

pytestmark = pytest.mark.integration

USER = "gantry-bot"


def secret_forms(secret: str) -> set[str]:
    """``secret`` and every way it can show up base64-encoded inside a larger value:
    each of the three alignments (standard and URL-safe alphabets), plus the basic-auth
    header value of USER:secret."""
    raw = secret.encode()
    forms = {secret, base64.b64encode(f"{USER}:{secret}".encode()).decode()}
    for shift in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * shift + raw).decode().rstrip("=")
            # drop the characters that mix in the prefix, and a last one that mixes in what follows
            start = (shift * 8 + 5) // 6 if shift else 0
            stable = text[start : len(text) - 1]
            forms.add(stable)
    return {f for f in forms if len(f) >= 8}


def _decoded_strings(value: object) -> Iterator[str]:
    """Every string in a JSON document, and the text of every string that decodes as base64."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _decoded_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _decoded_strings(v)
    elif isinstance(value, str):
        yield value
        if len(value) >= 4:
            try:
                yield base64.b64decode(value, validate=True).decode("utf-8", "replace")
            except ValueError:
                pass


async def full_history_text(handle: WorkflowHandle) -> str:
    """The history as Temporal Web exports it (JSON), followed by every payload decoded."""
    history = await handle.fetch_history()
    text = history.to_json()
    assert len(history.events) > 5, "expected a real history"
    return text + "\n" + "\n".join(_decoded_strings(json.loads(text)))


def assert_nowhere(secret: str, where: str, text: str) -> None:
    for form in secret_forms(secret):
        assert form not in text, f"{where}: contains the secret (as {form!r})"


@pytest.fixture
def no_store(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for k in list(os.environ):
        if k.startswith("GANTRY_") and "CREDENTIALS" in k:
            monkeypatch.delenv(k)
    return monkeypatch


@pytest.fixture
def password() -> str:
    return f"Zq{secrets.token_urlsafe(24)}-pw"


@pytest.fixture
def http_repo(tmp_path: Path, password: str) -> Iterator[tuple[GitOpsRepo, str]]:
    repo = make_gitops_repo(tmp_path / "remote")
    with GitHTTPServer(repo.bare.parent, USER, password) as server:
        yield repo, server.url_for(repo.bare)


def env_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, password: str) -> None:
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", url.rsplit("/", 1)[0] + "/")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", password)


def file_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, password: str) -> None:
    f = tmp_path / "credentials.yaml"
    f.write_text(f"credentials:\n- url: {url}\n  type: git\n  username: {USER}\n  password: {password}\n")
    monkeypatch.setenv("GANTRY_CREDENTIALS_FILE", str(f))


async def promote(worker: WorkerHandle, project: str, url: str, actor: str | None = None):
    await apply_text(worker.gantry, pipeline_manifests(project, url))
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": "4.5.6"}]}
    )
    handle = await worker.gantry.promote(project, "dev", freight["name"], actor=actor)
    return handle, await asyncio.wait_for(handle.result(), 90)


async def assert_histories_clean(client: Client, handle: WorkflowHandle, project: str, *secrets_: str) -> None:
    """The promotion's, the project's and (where the stage has one) the stage workflow's history."""
    histories = {
        handle.id: await full_history_text(handle),
        project_workflow_id(project): await full_history_text(client.get_workflow_handle(project_workflow_id(project))),
    }
    try:
        stage_id = stage_workflow_id(project, "dev")
        histories[stage_id] = await full_history_text(client.get_workflow_handle(stage_id))
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
    for secret in secrets_:
        for workflow_id, text in histories.items():
            assert_nowhere(secret, f"history of {workflow_id}", text)


@pytest.mark.parametrize("store", [env_store, file_store], ids=["env", "file"])
async def test_password_never_reaches_temporal(
    worker: WorkerHandle, client: Client, tmp_path: Path, unique: str, no_store, password: str, http_repo, store
) -> None:
    repo, url = http_repo
    store(no_store, tmp_path, url, password)
    project = f"secret-{unique}"
    before = repo.commits()

    handle, status = await promote(worker, project, url)

    assert status.phase == "Succeeded", status
    assert [s.status for s in status.steps] == ["Succeeded"] * 4
    assert len(repo.commits()) == len(before) + 1
    assert "newTag: 4.5.6" in repo.show("env/dev/kustomization.yaml")
    assert_nowhere(password, "promotion result", status.model_dump_json())
    assert_nowhere(password, "step outputs", json.dumps(status.state, default=str))
    # the history is the one that talked to the authenticated remote
    history = await full_history_text(handle)
    assert url in history
    await assert_histories_clean(client, handle, project, password)


@pytest.mark.parametrize("store", [env_store, file_store], ids=["env", "file"])
async def test_wrong_password_fails_on_auth_and_leaks_neither_password(
    worker: WorkerHandle, client: Client, tmp_path: Path, unique: str, no_store, password: str, http_repo, store
) -> None:
    repo, url = http_repo
    wrong = f"Wr{secrets.token_urlsafe(24)}-pw"
    store(no_store, tmp_path, url, wrong)
    project = f"secret-{unique}"
    before = repo.commits()

    handle, status = await promote(worker, project, url)

    assert status.phase in ("Failed", "Errored"), status
    clone = status.steps[0]
    assert clone.uses == "git-clone" and clone.status in ("Failed", "Errored"), status
    assert "authentication" in clone.message.lower(), clone.message
    assert repo.commits() == before
    for secret in (wrong, password):
        assert_nowhere(secret, "promotion result", status.model_dump_json())
    await assert_histories_clean(client, handle, project, wrong, password)


async def test_positive_control_a_value_that_does_reach_history_is_found(
    worker: WorkerHandle, client: Client, tmp_path: Path, unique: str, no_store, password: str, http_repo
) -> None:
    """The same check on a value that is in the history (the promotion's actor, in its
    input and result) fails: the search really reads the payloads."""
    repo, url = http_repo
    env_store(no_store, tmp_path, url, password)
    canary = f"Cn{secrets.token_urlsafe(24)}-actor"
    project = f"secret-{unique}"
    handle, status = await promote(worker, project, url, actor=canary)
    assert status.phase == "Succeeded", status
    with pytest.raises(AssertionError, match="contains the secret"):
        assert_nowhere(canary, "history", (await handle.fetch_history()).to_json())  # base64 payloads only
    await assert_histories_clean(client, handle, project, password)


def test_secret_forms_find_base64_at_every_alignment() -> None:
    """The detector itself: the password inside a base64 payload at any offset is found."""
    pw = "Zq-some-long-password-value-pw"
    for prefix in ("", "a", "ab", "abc", '{"password": "'):
        blob = base64.b64encode((prefix + pw + '"}').encode()).decode()
        assert any(f in blob for f in secret_forms(pw)), prefix


async def test_warehouse_discovery_with_credentials_leaves_no_secret(
    worker: WorkerHandle, client: Client, tmp_path: Path, unique: str, no_store, password: str, http_repo
) -> None:
    """A Warehouse reading an authenticated git remote: its pass, the Freight it makes and
    the failed pass with a wrong password, and none of it carries a password."""
    repo, url = http_repo
    env_store(no_store, tmp_path, url, password)
    project = f"secret-wh-{unique}"
    warehouse = (
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n---\n"
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: app\n  namespace: {project}\n"
        f"spec:\n  subscriptions:\n  - git:\n      repoURL: {url}\n      branch: main\n"
    )
    await apply_text(worker.gantry, warehouse)
    good = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert good.error == "" and good.last_freight, good
    freight = await worker.gantry.get_freight(project, good.last_freight)
    assert freight["commits"][0]["id"] == repo.commits()[0]

    wrong = f"Wr{secrets.token_urlsafe(24)}-pw"
    env_store(no_store, tmp_path, url, wrong)
    failed = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert "authentication" in failed.error.lower(), failed.error
    handle = client.get_workflow_handle(f"warehouse/{project}/app")
    text = await full_history_text(handle)
    assert url in text
    for secret in (password, wrong):
        assert_nowhere(secret, "warehouse status", failed.model_dump_json())
        assert_nowhere(secret, "history of the warehouse", text)
        assert_nowhere(secret, "history of the project", await full_history_text(client.get_workflow_handle(project_workflow_id(project))))
