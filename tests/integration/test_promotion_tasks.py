"""PromotionTasks and ClusterPromotionTasks on a real dev server: the seed's tasks run
against a local bare git remote and the Argo CD fake; inflation aliases, task vars,
`task.outputs` and compose-output propagation to the template."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from client.api import GantryError
from tests.conftest import WorkerHandle
from tests.fakes.argocd import FakeArgoCD
from tests.gitrepos import git
from tests.integration.test_promotion import apply_text
from tests.integration.test_step_semantics import result
from tests.pipelines import OVERLAY, GitOpsRepo

pytestmark = pytest.mark.integration

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "examples" / "04-promotion-tasks.yaml"
if not SEED.exists():  # the copy kept with the tests
    SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "04-promotion-tasks.yaml"
IMAGE = "my-registry/my-app"
API = "kargo.akuity.io/v1alpha1"


def seed_document(kind: str, name: str) -> dict[str, Any]:
    for doc in YAML(typ="safe").load_all(SEED.read_text()):
        if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"{kind}/{name} is not in {SEED}")


def make_environments_repo(root: Path, envs: tuple[str, ...] = ("uat",), marker: str = "") -> GitOpsRepo:
    """A bare remote with the layout the seed tasks edit: environments/<env>/kustomization.yaml."""
    bare, seed = root / "deploy.git", root / "seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "base").mkdir()
    (seed / "base" / "kustomization.yaml").write_text("resources:\n- configmap.yaml\n")
    (seed / "base" / "configmap.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  marker: '{marker}'\n"
    )
    for env in envs:
        (seed / "environments" / env).mkdir(parents=True)
        (seed / "environments" / env / "kustomization.yaml").write_text(OVERLAY.format(env=env))
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", f"seed {marker}", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return GitOpsRepo(bare=bare, url=f"file://{bare}")


def project_docs(project: str, stage: str, steps: list[dict[str, Any]], extra: list[dict[str, Any]] = ()) -> str:
    docs = [
        {"apiVersion": API, "kind": "Project", "metadata": {"name": project}},
        {
            "apiVersion": API,
            "kind": "Warehouse",
            "metadata": {"name": "my-warehouse", "namespace": project},
            "spec": {"subscriptions": [{"image": {"repoURL": IMAGE}}]},
        },
        *extra,
        {
            "apiVersion": API,
            "kind": "Stage",
            "metadata": {"name": stage, "namespace": project},
            "spec": {
                "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "my-warehouse"}, "sources": {"direct": True}}],
                "promotionTemplate": {"spec": {"steps": steps}},
            },
        },
    ]
    return "\n---\n".join(json.dumps(d) for d in docs) + "\n"


def in_project(doc: dict[str, Any], project: str) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    doc["metadata"]["namespace"] = project
    return doc


async def promote(worker: WorkerHandle, project: str, stage: str, tag: str = "2.0.0"):
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "my-warehouse"}, "images": [{"repoURL": IMAGE, "tag": tag}]}
    )
    return await worker.gantry.promote(project, stage, freight["name"], actor="tester"), freight


def task_step(name: str, vars_: dict[str, str], kind: str | None = None, alias: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"task": {"name": name, **({"kind": kind} if kind else {})}}
    if alias:
        step["as"] = alias
    step["vars"] = [{"name": k, "value": v} for k, v in vars_.items()]
    return step


@pytest.fixture
def argocd(monkeypatch: pytest.MonkeyPatch):
    fake = FakeArgoCD(gets_to_sync=1).start()
    for var in ("GANTRY_CREDENTIALS_FILE", "GANTRY_ARGOCD_NAMESPACE", "GANTRY_ARGOCD_INSECURE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GANTRY_ARGOCD_URL", fake.url)
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_URL", fake.url)
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_TOKEN", fake.token)
    yield fake
    fake.stop()


# -- the seed's PromotionTask ----------------------------------------------------------


async def test_seed_kustomize_promote_task_runs_end_to_end(
    worker: WorkerHandle, argocd: FakeArgoCD, tmp_path: Path, unique: str
) -> None:
    project = f"tasks-{unique}"
    repo = make_environments_repo(tmp_path / "remote")
    task = in_project(seed_document("PromotionTask", "kustomize-promote"), project)
    steps = [task_step("kustomize-promote", {"repoURL": repo.url, "environment": "uat", "argocdApp": "my-app-uat"})]
    await apply_text(worker.gantry, project_docs(project, "uat", steps, [task]))
    argocd.add_app("my-app-uat", authorized_stage=f"{project}:uat")
    before = repo.commits()

    handle, _ = await promote(worker, project, "uat")
    status = await result(handle, 30)

    assert status.phase == "Succeeded", status
    aliases = ["clone", "set-image", "build", "commit", "push", "sync"]
    assert [s.alias for s in status.steps] == [f"task-1::{a}" for a in aliases]
    assert [s.status for s in status.steps] == ["Succeeded"] * 6
    after = repo.commits()
    assert len(after) == len(before) + 1 and after[1:] == before, "exactly one new commit on main"
    overlay = repo.show("environments/uat/kustomization.yaml")
    assert "name: my-registry/my-app" in overlay and "newTag: 2.0.0" in overlay
    assert "my-registry/my-app:2.0.0" in repo.message()
    assert status.state["task-1::push"]["commit"] == after[0]
    assert [s["app"] for s in argocd.syncs] == ["my-app-uat"], argocd.syncs
    app = argocd.app("my-app-uat")
    assert app["status"]["sync"]["status"] == "Synced" and app["status"]["health"]["status"] == "Healthy"


async def test_cluster_task_is_shared_by_two_projects(
    worker: WorkerHandle, cluster_scope: None, tmp_path: Path, unique: str
) -> None:
    cluster_task = seed_document("ClusterPromotionTask", "standard-kustomize-promote")
    await apply_text(worker.gantry, json.dumps(cluster_task) + "\n", file="cluster.yaml")
    handles = []
    repos = []
    for n in ("a", "b"):
        project = f"ctask-{n}-{unique}"
        repo = make_environments_repo(tmp_path / n, marker=f"{n}-{unique}")
        repos.append(repo)
        step = task_step(
            "standard-kustomize-promote",
            {"repoURL": repo.url, "environment": "uat", "argocdApp": f"app-{n}"},
            kind="ClusterPromotionTask",
        )
        await apply_text(worker.gantry, project_docs(project, "uat-cluster-task", [step]))
        handles.append((await promote(worker, project, "uat-cluster-task"))[0])
    statuses = await asyncio.gather(*(result(h) for h in handles))
    for status, repo in zip(statuses, repos):
        assert status.phase == "Succeeded", status
        assert [s.alias for s in status.steps] == ["task-1::clone"]
        commits = status.state["task-1::clone"]["commits"]
        assert list(commits.values()) == [repo.commits()[0]], "each project cloned its own repository"
    assert repos[0].commits()[0] != repos[1].commits()[0]


# -- task vars ---------------------------------------------------------------------------

NEEDS_VARS = {
    "apiVersion": API,
    "kind": "PromotionTask",
    "metadata": {"name": "needs-vars"},
    "spec": {
        "vars": [{"name": "required"}, {"name": "optional", "value": "dflt"}],
        "steps": [{"uses": "compose-output", "as": "out", "config": {"r": "${{ vars.required }}", "o": "${{ vars.optional }}"}}],
    },
}


async def test_task_var_defaults_and_overrides(worker: WorkerHandle, unique: str) -> None:
    project = f"tvars-{unique}"
    steps = [task_step("needs-vars", {"required": "given"}), task_step("needs-vars", {"required": "x", "optional": "set"})]
    await apply_text(worker.gantry, project_docs(project, "s", steps, [in_project(NEEDS_VARS, project)]))
    handle, _ = await promote(worker, project, "s")
    status = await result(handle)
    assert status.phase == "Succeeded", status
    assert status.state["task-1::out"] == {"r": "given", "o": "dflt"}
    assert status.state["task-2::out"] == {"r": "x", "o": "set"}


async def test_missing_task_var_is_rejected_at_apply(worker: WorkerHandle, unique: str) -> None:
    project = f"tmiss-{unique}"
    steps = [task_step("needs-vars", {"optional": "o"})]
    with pytest.raises(GantryError) as err:
        await apply_text(worker.gantry, project_docs(project, "s", steps, [in_project(NEEDS_VARS, project)]), file="p.yaml")
    assert "p.yaml" in str(err.value) and "missing value for variable 'required'" in str(err.value)


async def test_missing_task_var_errors_the_promotion_before_any_step(
    worker: WorkerHandle, cluster_scope: None, unique: str
) -> None:
    """The Stage was valid when applied; the ClusterPromotionTask then lost the default of a
    var the Stage does not set. Inflation at promotion time must catch it, before any step."""
    name = f"needs-vars-{unique}"
    task = json.loads(json.dumps({**NEEDS_VARS, "kind": "ClusterPromotionTask", "metadata": {"name": name}}))
    task["spec"]["vars"][0]["value"] = "had-a-default"
    await apply_text(worker.gantry, json.dumps(task) + "\n", file="cluster.yaml")
    project = f"tmiss-{unique}"
    steps = [{"uses": "compose-output", "as": "first", "config": {"a": 1}}, task_step(name, {}, kind="ClusterPromotionTask")]
    await apply_text(worker.gantry, project_docs(project, "s", steps))
    changed = json.loads(json.dumps(task))
    changed["spec"]["vars"][0] = {"name": "required"}  # the default is gone
    await apply_text(worker.gantry, json.dumps(changed) + "\n", file="cluster.yaml")

    handle, _ = await promote(worker, project, "s")
    status = await result(handle)
    assert status.phase == "Errored", status
    assert f"missing value for variable required of task {name}" in status.message, status.message
    assert all(s.status == "Pending" for s in status.steps), status.steps
    assert status.state == {}, "no step may run"
    ran = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    # the context, the lock and a worker are local activities (markers), the clean-up an
    # activity on the claimed worker; no step runs
    assert set(ran) <= {"cleanup_workdir"}, ran


# -- task outputs ----------------------------------------------------------------------

PRODUCER = {
    "apiVersion": API,
    "kind": "PromotionTask",
    "metadata": {"name": "producer"},
    "spec": {
        "vars": [{"name": "name"}],
        "steps": [
            {"uses": "compose-output", "as": "inner", "config": {"greeting": "hello-${{ vars.name }}"}},
            {"uses": "compose-output", "as": "reads-own", "config": {"seen": "${{ task.outputs['inner'].greeting }}"}},
            {"uses": "compose-output", "as": "export", "config": {"message": "${{ task.outputs['reads-own'].seen }}!"}},
        ],
    },
}

CONSUMER = {
    "apiVersion": API,
    "kind": "PromotionTask",
    "metadata": {"name": "consumer"},
    "spec": {
        "vars": [{"name": "input"}],
        "steps": [{"uses": "compose-output", "as": "got", "config": {"value": "${{ vars.input }}"}}],
    },
}


async def test_task_outputs_and_propagation_to_the_template(worker: WorkerHandle, unique: str) -> None:
    project = f"tout-{unique}"
    steps = [
        task_step("producer", {"name": "gantry"}, alias="make"),
        {"uses": "compose-output", "as": "template-reads", "config": {"v": "${{ outputs['make'].message }}"}},
        task_step("consumer", {"input": "${{ outputs['make'].message }}"}, alias="use"),
    ]
    extra = [in_project(PRODUCER, project), in_project(CONSUMER, project)]
    await apply_text(worker.gantry, project_docs(project, "s", steps, extra))
    handle, _ = await promote(worker, project, "s")
    status = await result(handle)
    assert status.phase == "Succeeded", status
    assert [s.alias for s in status.steps] == [
        "make::inner", "make::reads-own", "make::export", "template-reads", "use::got",
    ]  # fmt: skip
    assert status.state["make::reads-own"] == {"seen": "hello-gantry"}, "task.outputs reads the task's own step"
    assert status.state["make"]["message"] == "hello-gantry!", "compose-output propagates to the task alias"
    assert status.state["template-reads"] == {"v": "hello-gantry!"}
    assert status.state["use::got"] == {"value": "hello-gantry!"}, "tasks chain through outputs['<taskAlias>']"


STATUS_TASK = {
    "apiVersion": API,
    "kind": "PromotionTask",
    "metadata": {"name": "status-task"},
    "spec": {
        "steps": [
            {"uses": "fail", "as": "x", "continueOnError": True, "config": {"message": "inner"}},
            {"uses": "compose-output", "as": "saw", "if": "${{ status('x') == 'Failed' }}", "config": {"ok": True}},
        ],
    },
}


async def test_status_inside_a_task_resolves_in_the_task(worker: WorkerHandle, unique: str) -> None:
    """Kargo resolves `status('x')` within the current task's namespace: `t::x`, not a
    template step `x` (which here succeeded)."""
    project = f"tstat-{unique}"
    steps = [
        {"uses": "compose-output", "as": "x", "config": {"top": True}},
        task_step("status-task", {}, alias="t"),
    ]
    await apply_text(worker.gantry, project_docs(project, "s", steps, [in_project(STATUS_TASK, project)]))
    handle, _ = await promote(worker, project, "s")
    status = await result(handle)
    by = {s.alias: s for s in status.steps}
    assert by["x"].status == "Succeeded" and by["t::x"].status == "Failed"
    assert by["t::saw"].status == "Succeeded", status
    assert status.phase == "Succeeded"
