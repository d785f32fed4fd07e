"""Freight as workflows of their own: found by name, alias and prefix, listed page by page,
aliases unique under races, the project's catalog of old moved out, and no payload that
grows with the number of Freight."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
from temporalio.client import Client

from client.api import Gantry, GantryError
from pipeline.freight import FreightCatalog
from tests.conftest import WorkerHandle, wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests, start_project_with_state
from workflows.messages import FreightCreate
from workflows.project import ProjectState

pytestmark = pytest.mark.integration


def image(tag: str, warehouse: str = "app") -> dict:
    return {"origin": {"kind": "Warehouse", "name": warehouse}, "images": [{"repoURL": "registry.test/app", "tag": tag}]}


async def listed(gantry: Gantry, project: str, count: int) -> list[dict]:
    """The project's Freight once visibility (which trails writes by milliseconds) shows `count`."""
    found: list[dict] = []

    async def enough() -> bool:
        found[:] = await gantry.freight(project)
        return len(found) >= count

    await wait_for(enough, timeout=30, message=f"{count} freight listed")
    return found


async def test_freight_is_a_workflow_found_by_name_alias_and_prefix(worker: WorkerHandle, unique: str) -> None:
    gantry = worker.gantry
    project = f"fw-{unique}"
    await apply_text(gantry, pipeline_manifests(project, "file:///nowhere.git"))
    made = await gantry.create_freight(project, image("1.0.0"))
    again = await gantry.create_freight(project, image("1.0.0"))
    assert again["name"] == made["name"] and again["alias"] == made["alias"], "same artifacts, same Freight"

    description = await gantry.client.get_workflow_handle(f"freight/{project}/{made['name']}").describe()
    assert description.workflow_type == "FreightWorkflow"
    assert (await gantry.get_freight(project, made["alias"]))["name"] == made["name"]
    assert (await gantry.get_freight(project, made["name"]))["alias"] == made["alias"]

    async def by_prefix() -> bool:
        try:
            return (await gantry.get_freight(project, made["name"][:9]))["name"] == made["name"]
        except GantryError:
            return False

    await wait_for(by_prefix, timeout=10, message="the name prefix to find the freight")
    with pytest.raises(GantryError, match="does not exist"):
        await gantry.get_freight(project, "no-such-alias")
    with pytest.raises(GantryError, match="Warehouse 'nope' does not exist"):
        await gantry.create_freight(project, image("1.0.1", warehouse="nope"))
    with pytest.raises(GantryError, match="at least one image"):
        await gantry.create_freight(project, {"origin": {"kind": "Warehouse", "name": "app"}})
    with pytest.raises(GantryError, match="discoveredAt 'yesterday' is not a time"):
        await gantry.create_freight(project, {**image("1.0.2"), "discoveredAt": "yesterday"})
    assert await gantry.client.get_workflow_handle(f"project/{project}").query("freight") == [], "nothing in the project"


async def test_aliases_are_unique_and_move(worker: WorkerHandle, unique: str) -> None:
    gantry = worker.gantry
    project = f"fa-{unique}"
    await apply_text(gantry, pipeline_manifests(project, "file:///nowhere.git"))
    first = await gantry.create_freight(project, {**image("1.0.0"), "alias": "release-one"})
    assert first["alias"] == "release-one"
    with pytest.raises(GantryError, match="'release-one' is already used by freight " + first["name"]):
        await gantry.create_freight(project, {**image("2.0.0"), "alias": "release-one"})
    second = await gantry.create_freight(project, image("2.0.0"))

    with pytest.raises(GantryError, match="already used"):
        await gantry.set_freight_alias(project, second["name"], "release-one")
    with pytest.raises(GantryError, match="not valid"):
        await gantry.set_freight_alias(project, second["name"], "-bad-")
    moved = await gantry.set_freight_alias(project, first["name"], "release-1")
    assert moved["alias"] == "release-1"
    assert (await gantry.get_freight(project, "release-1"))["name"] == first["name"]
    # the old alias is free again: another Freight may take it
    taken = await gantry.set_freight_alias(project, second["name"], "release-one")
    assert taken["alias"] == "release-one"
    assert (await gantry.get_freight(project, "release-one"))["name"] == second["name"]


async def test_an_alias_claim_names_its_freight_in_its_memo_and_older_claims_are_asked(
    worker: WorkerHandle, unique: str
) -> None:
    """Reads of an alias describe its claim (no worker needed); a claim started before claims
    carried a memo is still answered, by its query."""
    from activities.freight_store import FreightStore
    from workflows.freight_alias import AliasClaim
    from workflows.ids import freight_alias_workflow_id

    gantry = worker.gantry
    project = f"fm-{unique}"
    await apply_text(gantry, pipeline_manifests(project, "file:///nowhere.git"))
    made = await gantry.create_freight(project, {**image("1.0.0"), "alias": "memo-one"})
    claim = gantry.client.get_workflow_handle(freight_alias_workflow_id(project, "memo-one"))
    assert (await (await claim.describe()).memo()) == {"freight": made["name"]}

    old = "0" * 40
    await gantry.client.start_workflow(  # as the store started claims before
        "FreightAliasWorkflow", AliasClaim(project=project, alias="old-claim", freight=old),
        id=freight_alias_workflow_id(project, "old-claim"), task_queue=worker.task_queue,
    )  # fmt: skip
    store = FreightStore(gantry.client, worker.task_queue)
    assert await store.alias_owner(project, "old-claim") == old
    assert await store.alias_owner(project, "memo-one") == made["name"]
    assert await store.alias_owner(project, "no-such-alias") is None


async def test_racing_creates_make_one_freight_and_distinct_aliases(worker: WorkerHandle, unique: str) -> None:
    gantry = worker.gantry
    project = f"fr-{unique}"
    await apply_text(gantry, pipeline_manifests(project, "file:///nowhere.git"))
    same = await asyncio.gather(*(gantry.create_freight(project, image("9.9.9")) for _ in range(10)))
    assert len({f["name"] for f in same}) == 1 and len({f["alias"] for f in same}) == 1
    many = await asyncio.gather(*(gantry.create_freight(project, image(f"3.0.{i}")) for i in range(30)))
    aliases = [f["alias"] for f in many]
    assert len(set(aliases)) == 30, "every alias is held by one Freight"
    for freight in many[:5]:
        assert (await gantry.get_freight(project, freight["alias"]))["name"] == freight["name"]
    query = (
        "WorkflowType='FreightAliasWorkflow' AND ExecutionStatus='Running' "
        f"AND WorkflowId STARTS_WITH 'freight-alias/{project}/'"
    )

    async def claims() -> int:
        return len([e async for e in gantry.client.list_workflows(query)])

    async def one_claim_each() -> bool:
        return await claims() == 31

    await wait_for(one_claim_each, timeout=15, message="one alias claim per Freight, none left behind by the race")


async def test_freight_is_listed_newest_first_page_by_page(worker: WorkerHandle, unique: str) -> None:
    gantry = worker.gantry
    project = f"fl-{unique}"
    await apply_text(gantry, pipeline_manifests(project, "file:///nowhere.git"))
    made = [await gantry.create_freight(project, image(f"1.{i}.0")) for i in range(7)]
    everything = await listed(gantry, project, 7)
    assert [f["name"] for f in everything] == [f["name"] for f in reversed(made)], "newest first"

    seen, token, pages = [], None, 0
    while True:
        page = await gantry.freight_page(project, limit=3, token=token)
        seen += [f["name"] for f in page.items]
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == [f["name"] for f in reversed(made)] and pages == 3


async def test_the_cli_pages_freight(worker: WorkerHandle, unique: str, temporal_address: str) -> None:
    from tests.integration.test_cli import gantry as run_cli

    project = f"fc-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, "file:///nowhere.git"))
    for i in range(3):
        await worker.gantry.create_freight(project, image(f"4.{i}.0"))
    await listed(worker.gantry, project, 3)
    code, out = await run_cli(temporal_address, worker, "get", "freight", "-p", project, "--limit", "2", "-o", "json")
    assert code == 0, out
    assert out.count('"kind": "Freight"') == 2 and "--continue" in out


async def test_a_catalog_of_old_moves_into_freight_workflows(client: Client, worker: WorkerHandle, unique: str) -> None:
    """A project from before FreightWorkflows: its catalog's Freight (status and alias kept)
    become FreightWorkflows, and the project keeps none of them."""
    project = f"fm-{unique}"
    catalog = FreightCatalog()
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    names = []
    for i in range(5):
        record, _ = catalog.add({**image(f"0.{i}.0"), "discoveredAt": f"2026-11-0{i + 1}T00:00:00+00:00"}, now)
        names.append(record["name"])
    catalog.record_promotion("dev", names[2], "dev.old.1", now)
    catalog.mark_verified("dev", names[2], now)
    catalog.approve("staging", names[4], "alice", now)
    await start_project_with_state(client, worker.task_queue, project, "file:///x.git", ProjectState(catalog=catalog))
    handle = client.get_workflow_handle(f"project/{project}")

    async def moved() -> bool:
        return await handle.query("freight") == []

    await wait_for(moved, timeout=30, message="the catalog to move out")
    everything = await listed(worker.gantry, project, 5)
    assert [f["name"] for f in everything] == list(reversed(names)), "oldest moved first: listed newest first"
    third = await worker.gantry.get_freight(project, catalog.freight[names[2]]["alias"])
    assert third["status"]["currentlyIn"]["dev"] and third["status"]["verifiedIn"]["dev"]
    assert (await worker.gantry.get_freight(project, names[4]))["status"]["approvedFor"]["staging"]["by"] == "alice"
    stages = {s.name: s for s in await worker.gantry.stages(project)}
    assert stages["dev"].freight == names[2], "where Stages are stays in the project"
    # the project's create_freight update (what `temporal workflow update` users call) makes a FreightWorkflow too
    created = await handle.execute_update("create_freight", FreightCreate(freight=image("0.9.0")), result_type=dict)
    assert (await worker.gantry.get_freight(project, created["alias"]))["name"] == created["name"]
    await wait_for(moved, timeout=30, message="the updated Freight to move out too")
    assert (await worker.gantry.get_freight(project, created["alias"]))["name"] == created["name"]


async def test_no_payload_grows_with_the_number_of_freight(
    client: Client, worker: WorkerHandle, unique: str, tmp_path: Path
) -> None:
    """Hundreds of Freight made at once (the bench goes to 10,000): the project's history and
    its continue-as-new input stay the size of its manifests; new Freight is still made, found,
    listed and promoted."""
    gantry = worker.gantry
    project = f"fs-{unique}"
    repo = make_gitops_repo(tmp_path / "remote")
    await apply_text(gantry, pipeline_manifests(project, repo.url))
    count = 300
    semaphore = asyncio.Semaphore(20)

    async def make(i: int) -> dict:
        async with semaphore:
            return await gantry.create_freight(project, image(f"5.{i // 100}.{i % 100}"))

    made = await asyncio.gather(*(make(i) for i in range(count)))
    assert len({f["name"] for f in made}) == count
    late = await gantry.create_freight(project, image("6.0.0"))
    assert (await gantry.get_freight(project, late["alias"]))["name"] == late["name"]

    async def listed_first() -> bool:  # visibility trails the write by a few ms
        page = await gantry.freight_page(project, limit=10)
        assert len(page.items) == 10 and page.next_token
        return page.items[0]["name"] == late["name"]  # newest first

    await wait_for(listed_first, timeout=10, message="the newest Freight to list first")

    largest = 0
    async for event in client.get_workflow_handle(f"project/{project}").fetch_history_events():
        largest = max(largest, event.ByteSize())
    assert largest < 64 * 1024, f"the project's largest event is {largest} bytes"
    description = await client.get_workflow_handle(f"project/{project}").describe()
    assert description.raw_description.workflow_execution_info.history_length < 60, "creating Freight does not touch the project"
    assert await client.get_workflow_handle(f"project/{project}").query("freight") == []
    promotion = await gantry.promote(project, "dev", late["alias"])
    assert (await asyncio.wait_for(promotion.result(), 120)).phase == "Succeeded"
    assert "newTag: 6.0.0" in repo.show("env/dev/kustomization.yaml")


async def test_a_stage_takes_over_the_history_its_project_kept(
    client: Client, worker: WorkerHandle, tmp_path, unique: str
) -> None:
    """Before, the project kept each Stage's Freight history and verification runs; now the
    Stage's workflow does, and the first promotion there hands it what the project kept."""
    from tests.pipelines import make_gitops_repo

    project = f"fh-{unique}"
    repo = make_gitops_repo(tmp_path / "remote")
    catalog = FreightCatalog()
    then = datetime(2026, 11, 1, tzinfo=timezone.utc)
    old, _ = catalog.add(image("0.1.0"), then)
    catalog.record_promotion("dev", old["name"], "dev.old.1", then)
    state = ProjectState(catalog=catalog, verifications={"dev": [{"id": "verification/old", "phase": "Successful"}]})
    await start_project_with_state(client, worker.task_queue, project, repo.url, state)
    new = await worker.gantry.create_freight(project, image("0.2.0"))
    assert (await (await worker.gantry.promote(project, "dev", new["name"])).result()).phase == "Succeeded"
    handle = client.get_workflow_handle(f"project/{project}")

    async def handed_over() -> bool:
        return await handle.query("stage_history", "dev") == [] and await handle.query("verification_history", "dev") == []

    await wait_for(handed_over, timeout=30, message="the project to hand dev its history")
    kept = await client.get_workflow_handle(f"stage/{project}/dev").query("history")
    assert [v["freight"] for v in kept["visits"]] == [new["name"], old["name"]]
    assert kept["visits"][1]["until"] is not None, "the old visit ended when the new Freight came"
    assert [v["id"] for v in kept["verifications"]] == ["verification/old"]
    assert [v["freight"] for v in await worker.gantry.stage_history(project, "dev")] == [new["name"], old["name"]]


def fan_out_manifests(project: str, stages: int) -> str:
    """A Warehouse and `stages` Stages that each take its Freight directly, promoting with one
    `compose-output` step (no git, no verification)."""
    docs = [
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n",
        f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  interval: 1h
  subscriptions: [{{image: {{repoURL: registry.test/app}}}}]
""",
    ]
    for i in range(stages):
        docs.append(f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: region-{i:02d}, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        as: out
        config:
          tag: ${{{{ imageFrom("registry.test/app").Tag }}}}
""")
    return "---\n".join(docs)


async def test_one_freight_promoted_to_many_stages_at_once(worker: WorkerHandle, unique: str) -> None:
    """Forty promotions of one Freight at once each record `entered` and `verified` on it: by
    signal, as the server refuses more than 10 updates in flight per workflow (with updates,
    60 at once did not finish in 3 minutes: bench/scale.py). Every change shows."""
    gantry = worker.gantry
    project = f"fan-{unique}"
    stages = [f"region-{i:02d}" for i in range(40)]
    await apply_text(gantry, fan_out_manifests(project, len(stages)))
    freight = await gantry.create_freight(project, image("7.0.0"))
    handles = await asyncio.gather(*(gantry.promote(project, stage, freight["name"]) for stage in stages))
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)
    assert [r.phase for r in results] == ["Succeeded"] * len(stages), [r.message for r in results if r.phase != "Succeeded"]
    status = (await gantry.get_freight(project, freight["name"]))["status"]
    assert sorted(status["currentlyIn"]) == stages
    assert sorted(status["verifiedIn"]) == stages
