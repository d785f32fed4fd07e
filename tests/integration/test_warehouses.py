"""Warehouses on the dev server: discovery from a real OCI registry and real git
repositories, Freight creation (policy, criteria), refresh, errors, continue-as-new, and
the path from a pushed image to a promoted Stage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from client.api import GantryError
from tests.conftest import WorkerHandle, wait_for
from tests.gitrepos import git
from tests.integration.test_cli import gantry
from tests.integration.test_promotion import apply_text
from tests.integration.test_stages import AUTO_CONFIG
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.registry import Registry, free_port, push_artifact, registry  # noqa: F401  (fixture)
from workflows.ids import warehouse_workflow_id
from workflows.warehouse import WarehouseInput, WarehouseStatus

pytestmark = pytest.mark.integration


def push_tag(reg: Registry, repository: str, tag: str) -> str:
    return push_artifact(reg, repository, tag, [(f"layer of {tag}".encode(), "application/vnd.oci.image.layer.v1.tar")]).digest


def warehouse_doc(project: str, subscriptions: str, extra: str = "", name: str = "app") -> str:
    return f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: {name}
  namespace: {project}
spec:
{extra}  subscriptions:
{subscriptions}"""


async def activities_scheduled(worker: WorkerHandle, workflow_id: str, activity: str) -> int:
    history = await worker.gantry.client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    )


async def image_project(worker: WorkerHandle, reg: Registry, name: str, tag: str) -> tuple[str, str, str]:
    """A project (no Warehouse yet) and a registry repository holding one tag: (project, repository, image)."""
    repository = f"public/{name}"
    push_tag(reg, repository, tag)
    await apply_text(worker.gantry, f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {name}\n")
    return name, repository, f"{reg.host}/{repository}"


def image_sub(repo: str, extra: str = "") -> str:
    return f"  - image:\n      repoURL: {repo}\n{extra}"


async def test_pushed_image_becomes_freight_and_reaches_dev_by_itself(
    worker: WorkerHandle, registry: Registry, tmp_path: Path, unique: str  # noqa: F811
) -> None:
    repository = f"public/app-{unique}"
    image = f"{registry.host}/{repository}"
    gitops = make_gitops_repo(tmp_path / "remote")
    project = f"wh-{unique}"
    push_tag(registry, repository, "1.0.0")
    digest = push_tag(registry, repository, "1.1.0")
    push_tag(registry, repository, "not-a-version")
    await apply_text(
        worker.gantry,
        pipeline_manifests(project, gitops.url, image=image) + AUTO_CONFIG.replace("glob:stag*", "dev").format(project=project),
    )

    status = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert status is not None and status.error == "", status
    assert [r["tag"] for r in status.discovered["images"][0]["references"]] == ["1.1.0", "1.0.0"]
    freight = await worker.gantry.get_freight(project, status.last_freight)
    assert freight["images"] == [{"repoURL": image, "tag": "1.1.0", "digest": digest}]
    assert freight["origin"] == {"kind": "Warehouse", "name": "app"}

    async def dev_has(name: str) -> bool:
        views = {s.name: s for s in await worker.gantry.stages(project)}
        return views["dev"].freight == name

    await wait_for(lambda: dev_has(freight["name"]), timeout=60, message="new freight to be auto-promoted to dev")
    assert "newTag: 1.1.0" in gitops.show("env/dev/kustomization.yaml")

    # the same artifacts again: no second Freight
    again = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert again.last_freight == freight["name"]
    assert len(await worker.gantry.freight(project)) == 1
    assert await activities_scheduled(worker, warehouse_workflow_id(project, "app"), "create_warehouse_freight") == 1, (
        "passes that find the artifacts of the last Freight do not ask the project again"
    )

    # a newer tag: new Freight, and it follows to dev
    push_tag(registry, repository, "1.2.0")
    newer = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert newer.last_freight != freight["name"]
    assert len(await worker.gantry.freight(project)) == 2
    await wait_for(lambda: dev_has(newer.last_freight), timeout=60, message="the newer freight to reach dev")
    assert "newTag: 1.2.0" in gitops.show("env/dev/kustomization.yaml")


async def test_creation_criteria_and_manual_policy_make_no_freight_and_say_why(
    worker: WorkerHandle, registry: Registry, unique: str  # noqa: F811
) -> None:
    project, repository, image = await image_project(worker, registry, f"whc-{unique}", "2.0.0")
    criteria = f"  freightCreationCriteria:\n    expression: imageFrom('{image}').Tag == '9.9.9'\n"
    await apply_text(worker.gantry, warehouse_doc(project, image_sub(image), criteria))
    status = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert status.error == ""
    assert status.message == f"freight creation criteria not met: imageFrom('{image}').Tag == '9.9.9' is false"
    assert await worker.gantry.freight(project) == []

    broken = "  freightCreationCriteria:\n    expression: imageFrom('x').Tag ==\n"
    with pytest.raises(GantryError, match=r"Warehouse/app: spec\.freightCreationCriteria\.expression: .*expected an operand"):
        await apply_text(worker.gantry, warehouse_doc(project, image_sub(image), broken))  # refused, not left to fail

    await apply_text(worker.gantry, warehouse_doc(project, image_sub(image), "  freightCreationPolicy: Manual\n"))
    status = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert "Manual" in status.message
    assert status.discovered["images"][0]["references"][0]["tag"] == "2.0.0"
    assert await worker.gantry.freight(project) == []

    accepting = f"  freightCreationCriteria:\n    expression: imageFrom('{image}').Tag == '2.0.0'\n"
    await apply_text(worker.gantry, warehouse_doc(project, image_sub(image), accepting))
    status = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert status.message == "" and status.last_freight
    assert [f["name"] for f in await worker.gantry.freight(project)] == [status.last_freight]


async def test_a_registry_that_is_down_is_reported_and_nothing_is_lost(
    worker: WorkerHandle, registry: Registry, tmp_path: Path, unique: str  # noqa: F811
) -> None:
    project, repository, image = await image_project(worker, registry, f"whd-{unique}", "3.0.0")
    repo = tmp_path / "app-src"
    git("init", "-q", "-b", "main", str(repo))
    (repo / "README").write_text("v1\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo)
    subs = image_sub(image) + f"  - git:\n      repoURL: file://{repo}\n      branch: main\n"
    await apply_text(worker.gantry, warehouse_doc(project, subs))
    good = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert good.error == "" and good.last_freight
    freight = await worker.gantry.get_freight(project, good.last_freight)
    assert freight["commits"][0]["id"] == head and freight["commits"][0]["message"] == "first"

    down = f"127.0.0.1:{free_port()}/public/app"
    await apply_text(worker.gantry, warehouse_doc(project, subs + image_sub(down)))
    failed = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert failed.error.startswith(f"image {down}: "), failed.error
    assert failed.failed_passes == 1
    assert failed.discovered == good.discovered, "the last good discovery is kept"
    assert failed.last_freight == good.last_freight
    assert [f["name"] for f in await worker.gantry.freight(project)] == [good.last_freight]

    await apply_text(worker.gantry, warehouse_doc(project, subs))
    recovered = await worker.gantry.refresh_warehouse(project, "app", wait=True)
    assert recovered.error == "" and recovered.last_freight == good.last_freight


async def test_the_interval_is_a_timer_and_the_history_stays_bounded(
    client: Client, worker: WorkerHandle, registry: Registry, unique: str  # noqa: F811
) -> None:
    project, repository, image = await image_project(worker, registry, f"whl-{unique}", "0.1.0")
    workflow_id = warehouse_workflow_id(project, "app")
    # started with a small history limit before the Warehouse is applied (apply then wakes it)
    await client.start_workflow(
        "WarehouseWorkflow", WarehouseInput(project=project, warehouse="app", max_history=40),
        id=workflow_id, task_queue=worker.task_queue,
    )  # fmt: skip
    await apply_text(worker.gantry, warehouse_doc(project, image_sub(image), "  interval: 1s\n"))
    first_run = (await client.get_workflow_handle(workflow_id).describe()).run_id

    async def passes() -> int:
        status = await client.get_workflow_handle(workflow_id).query("status", result_type=WarehouseStatus)
        return status.passes

    await wait_for(lambda: _at_least(passes(), 8), timeout=60, message="passes every second without a refresh")
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.run_id != first_run, "continued as new"
    assert described.raw_description.workflow_execution_info.history_length < 2 * 40, "bounded by the limit plus one pass"
    push_tag(registry, repository, "0.2.0")

    async def found_new() -> bool:
        return len(await worker.gantry.freight(project)) == 2

    await wait_for(found_new, timeout=30, message="the timer's next pass to find the new tag")


async def _at_least(value, n: int) -> bool:
    return (await value) >= n


async def test_cli_refresh_get_and_alias(
    worker: WorkerHandle, registry: Registry, temporal_address: str, unique: str  # noqa: F811
) -> None:
    project, repository, image = await image_project(worker, registry, f"whcli-{unique}", "4.0.0")
    await apply_text(worker.gantry, warehouse_doc(project, image_sub(image)))

    code, out = await gantry(temporal_address, worker, "refresh", "warehouse", "app", "-p", project, "--wait")
    assert code == 0, out
    freight = (await worker.gantry.freight(project))[0]
    assert freight["alias"] in out

    code, out = await gantry(temporal_address, worker, "get", "warehouses", "-p", project)
    assert code == 0 and f"image:{image}" in out and freight["alias"] in out, out

    code, out = await gantry(temporal_address, worker, "freight", "alias", freight["alias"], "release-4", "-p", project)
    assert code == 0, out
    assert (await worker.gantry.get_freight(project, "release-4"))["name"] == freight["name"]

    code, out = await gantry(temporal_address, worker, "refresh", "warehouse", "nope", "-p", project)
    assert code == 1 and "warehouse 'nope' does not exist in project" in out, out

    down = f"127.0.0.1:{free_port()}/public/app"
    await apply_text(worker.gantry, warehouse_doc(project, image_sub(down), name="broken"))
    code, out = await gantry(temporal_address, worker, "refresh", "warehouse", "broken", "-p", project, "--wait")
    assert code == 1 and "error:" in out, out


async def test_concurrent_refreshes_make_one_freight(
    worker: WorkerHandle, registry: Registry, unique: str  # noqa: F811
) -> None:
    """Freight is named by origin and artifacts: passes that find the same artifacts never
    duplicate it."""
    project, repository, image = await image_project(worker, registry, f"whr-{unique}", "5.0.0")
    await apply_text(worker.gantry, warehouse_doc(project, image_sub(image)))
    results = await asyncio.gather(*(worker.gantry.refresh_warehouse(project, "app", wait=True) for _ in range(5)))
    assert len({r.last_freight for r in results}) == 1
    assert len(await worker.gantry.freight(project)) == 1
