"""Stages: the lock, availability, soak, approval and auto-promotion, on the dev server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from temporalio.client import Client

from client.api import Gantry
from tests.conftest import WorkerHandle, wait_for
from tests.httpserver import ScriptedServer
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from workflows.ids import stage_workflow_id
from workflows.messages import LockRequest, PromotionStatus, StageLockView
from workflows.stage import StageInput

pytestmark = pytest.mark.integration


def with_soak(text: str, soak: str) -> str:
    return text.replace("      stages: [dev]", f"      stages: [dev]\n      requiredSoakTime: {soak}")


AUTO_CONFIG = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: {project}
  namespace: {project}
spec:
  promotionPolicies:
  - stageSelector:
      name: "glob:stag*"
    autoPromotionEnabled: true
"""


async def new_freight(gantry: Gantry, project: str, tag: str) -> dict:
    return await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": tag}]}
    )


async def test_twenty_promotions_run_one_at_a_time_in_request_order(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"lock-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url))
    freights = [await new_freight(worker.gantry, project, f"1.0.{i}") for i in range(20)]
    before = len(repo.commits())

    handles = []
    for f in freights:  # requested in this order, as fast as the client can
        handles.append(await worker.gantry.promote(project, "dev", f["name"]))
    results: list[PromotionStatus] = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 240)

    assert [r.phase for r in results] == ["Succeeded"] * 20
    spans = [(r.steps[0].started_at, r.finished_at) for r in results]
    for (start_a, end_a), (start_b, _) in zip(spans, spans[1:]):
        assert end_a <= start_b, "promotions overlapped or ran out of request order"
    assert len(repo.commits()) == before + 20
    assert "newTag: 1.0.19" in repo.show("env/dev/kustomization.yaml")


async def test_a_reserved_place_keeps_request_order_and_is_given_up_if_its_promotion_never_comes(
    client: Client, worker: WorkerHandle, unique: str
) -> None:
    """`gantry promote` reserves the place before starting the promotion: a later promotion
    that asks first still waits behind it; a starter that died leaves no lasting block."""
    project = f"reserve-{unique}"
    now = datetime.now(timezone.utc)

    async def view(stage: str) -> StageLockView:
        return await client.get_workflow_handle(stage_workflow_id(project, stage)).query("lock", result_type=StageLockView)

    async def lock_is_free(stage: str) -> bool:
        current = await view(stage)
        return current.holder is None and not current.queue

    for stage, interval in (("dev", timedelta(hours=1)), ("qa", timedelta(seconds=1))):
        await client.start_workflow(
            "StageWorkflow", StageInput(project=project, stage=stage, holder_check_interval=interval),
            id=stage_workflow_id(project, stage), task_queue=worker.task_queue,
        )  # fmt: skip
        handle = client.get_workflow_handle(stage_workflow_id(project, stage))
        await handle.signal("acquire", LockRequest(promotion=f"{stage}-first", requested_at=now, ready=False))
        await handle.signal("acquire", LockRequest(promotion=f"{stage}-second", requested_at=now))

    # dev checks liveness hourly: the reservation holds its place until its promotion asks
    blocked = await view("dev")
    assert (blocked.holder, blocked.queue) == (None, ["dev-first", "dev-second"])
    await client.get_workflow_handle(stage_workflow_id(project, "dev")).signal(
        "acquire", LockRequest(promotion="dev-first", requested_at=now)
    )
    # granted in turn; neither workflow exists, so each grant finds it gone and moves on
    await wait_for(lambda: lock_is_free("dev"), timeout=20, message="dev's queue to be served in order")
    # qa checks every second: a reservation whose promotion never started is given up
    await wait_for(lambda: lock_is_free("qa"), timeout=20, message="qa's dead reservation to be given up")


async def test_a_release_during_the_grant_leaves_no_stale_grant(client: Client, worker: WorkerHandle, unique: str) -> None:
    """A holder that gives the lock back while its grant is still on the way (a promotion that
    asked early and found its Freight unavailable): the next holder is granted all the same.
    The release can land in the Stage's workflow task that also completes the grant's signal;
    before the fix that grant then marked the empty lock as granted, and the next holder was
    never told. The jitter varies where the release lands."""
    project = f"grant-race-{unique}"
    now = datetime.now(timezone.utc)
    stage_id = stage_workflow_id(project, "dev")
    # the "promotions": running workflows that take the lock_granted signal (it is only recorded)
    holders = []
    for name in ("a", "b"):
        holders.append(
            await client.start_workflow(
                "StageWorkflow", StageInput(project=project, stage=f"holder-{name}", holder_check_interval=timedelta(hours=1)),
                id=stage_workflow_id(project, f"holder-{name}"), task_queue=worker.task_queue,
            )  # fmt: skip
        )
    await client.start_workflow(
        "StageWorkflow", StageInput(project=project, stage="dev", holder_check_interval=timedelta(hours=1)),
        id=stage_id, task_queue=worker.task_queue,
    )  # fmt: skip
    lock = client.get_workflow_handle(stage_id)

    async def settled() -> StageLockView | None:
        """The lock free, with every grant the Stage sent delivered and seen by it."""
        events = [e async for e in lock.fetch_history_events()]
        sent = sum(1 for e in events if e.HasField("signal_external_workflow_execution_initiated_event_attributes"))
        done = sum(1 for e in events if e.HasField("external_workflow_execution_signaled_event_attributes"))
        if sent != done or events[-1].HasField("workflow_task_scheduled_event_attributes"):
            return None
        view = await lock.query("lock", result_type=StageLockView)
        return view if view.holder is None and not view.queue else None

    for i in range(25):
        await lock.signal("acquire", LockRequest(promotion=holders[0].id, requested_at=now))
        await asyncio.sleep((i % 5) * 0.004)  # jitter: where the release lands, not a wait
        await lock.signal("release", holders[0].id)
        view = await wait_for(settled, timeout=20, message="the lock to be free again")
        assert view.granted_at is None, f"round {i}: the free lock is marked granted (a grant that raced the release)"

    async def granted_signals() -> int:
        events = [e async for e in holders[1].fetch_history_events()]
        return sum(1 for e in events if e.workflow_execution_signaled_event_attributes.signal_name == "lock_granted")

    await lock.signal("acquire", LockRequest(promotion=holders[1].id, requested_at=now))
    await wait_for(granted_signals, timeout=20, message="the next holder to be granted the lock")
    for handle in holders:
        await handle.terminate("test done")
    await lock.terminate("test done")


async def test_a_free_stage_gives_its_lock_in_the_answer_a_busy_one_by_signal(
    worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    """The lock request is the Stage's `acquire_now` update: a promotion that finds the Stage
    free holds the lock when the answer comes (no `lock_granted` signal, its first step in
    its first workflow task); one that finds it busy is granted by signal once it is free."""
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"answer-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url))
    first, second = await new_freight(worker.gantry, project, "1.0.0"), await new_freight(worker.gantry, project, "1.0.1")

    async def signals(handle) -> list[str]:
        return [
            e.workflow_execution_signaled_event_attributes.signal_name
            async for e in handle.fetch_history_events()
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]

    alone = await worker.gantry.promote(project, "dev", first["name"])
    assert (await alone.result()).phase == "Succeeded"
    assert "lock_granted" not in await signals(alone), "a free Stage answers with the lock"
    busy = [await worker.gantry.promote(project, "dev", f["name"]) for f in (first, second)]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in busy)), 120)
    assert [r.phase for r in results] == ["Succeeded", "Succeeded"]
    assert results[0].finished_at <= results[1].steps[0].started_at, "one at a time"
    granted = [("lock_granted" in await signals(h)) for h in busy]
    assert granted[1], "the one that waited was granted by signal"


async def test_unverified_freight_is_refused_with_the_reason(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"avail-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url))
    freight = await new_freight(worker.gantry, project, "2.0.0")

    refused = await (await worker.gantry.promote(project, "staging", freight["name"])).result()
    assert refused.phase == "Failed"
    assert refused.message == f"freight {freight['alias']} is not available to stage staging: not verified in dev"
    assert all(s.status == "Pending" for s in refused.steps)

    assert (await (await worker.gantry.promote(project, "dev", freight["name"])).result()).phase == "Succeeded"
    found = await worker.gantry.get_freight(project, freight["name"])
    assert "dev" in found["status"]["verifiedIn"], "no verification configured: verified when promoted"
    assert (await (await worker.gantry.promote(project, "staging", freight["name"])).result()).phase == "Succeeded"


async def test_soak_blocks_then_waits_and_approval_bypasses(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"soak-{unique}"
    await apply_text(worker.gantry, with_soak(pipeline_manifests(project, repo.url), "4s"))
    freight = await new_freight(worker.gantry, project, "3.0.0")
    await (await worker.gantry.promote(project, "dev", freight["name"])).result()
    verified_at = datetime.fromisoformat(
        (await worker.gantry.get_freight(project, freight["name"]))["status"]["verifiedIn"]["dev"]["verifiedAt"]
    )

    early = await (await worker.gantry.promote(project, "staging", freight["name"])).result()
    assert early.phase == "Failed"
    assert "soaking in dev until" in early.message and "left" in early.message

    handle = await worker.gantry.client.start_workflow(
        "PromotionWorkflow",
        {"project": project, "stage": "staging", "freight": freight["name"], "wait_for_soak": True},
        id=f"promotion/{project}/staging/waits",
        task_queue=worker.task_queue,
        result_type=PromotionStatus,
    )
    waited = await asyncio.wait_for(worker.gantry.promotion_result(handle.id), 60)
    assert waited.phase == "Succeeded"
    assert waited.steps[0].started_at >= verified_at + timedelta(seconds=4)

    # approval: a new freight, never in dev, goes straight to staging
    other = await new_freight(worker.gantry, project, "3.1.0")
    handle = worker.gantry.client.get_workflow_handle(f"project/{project}")
    await handle.execute_update("approve", {"stage": "staging", "freight": other["alias"], "actor": "alice"}, result_type=dict)
    approved = await (await worker.gantry.promote(project, "staging", other["name"])).result()
    assert approved.phase == "Succeeded"
    assert (await worker.gantry.get_freight(project, other["name"]))["status"]["approvedFor"]["staging"]["by"] == "alice"


async def test_auto_promotion_fires_when_the_soak_ends(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"auto-{unique}"
    await apply_text(worker.gantry, with_soak(pipeline_manifests(project, repo.url), "3s") + AUTO_CONFIG.format(project=project))
    freight = await new_freight(worker.gantry, project, "4.0.0")
    await (await worker.gantry.promote(project, "dev", freight["name"])).result()
    verified_at = datetime.fromisoformat(
        (await worker.gantry.get_freight(project, freight["name"]))["status"]["verifiedIn"]["dev"]["verifiedAt"]
    )

    async def staged() -> list[dict]:
        rows = await worker.gantry.promotions(project, "staging")
        return [r for r in rows if r["phase"] == "Succeeded"]

    rows = await wait_for(staged, timeout=60, message="the auto-promotion to staging")
    status = await worker.gantry.promotion_status(rows[0]["id"])
    assert status.actor == "auto-promotion"
    assert status.steps[0].started_at >= verified_at + timedelta(seconds=3), "auto-promotion fired before the soak ended"
    assert "newTag: 4.0.0" in repo.show("env/staging/kustomization.yaml")


async def test_a_holder_that_dies_does_not_keep_the_stage_locked(
    client: Client, worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    project = f"dead-{unique}"
    with ScriptedServer(then=(200, {"ready": False})) as server:
        stage = f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  subscriptions: [{{image: {{repoURL: registry.test/app}}}}]
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: dev, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: http
        config:
          url: {server.url}/health
          successExpression: response.body.ready
          pollInterval: 1s
"""
        await apply_text(worker.gantry, stage)
        f1 = await new_freight(worker.gantry, project, "5.0.0")
        f2 = await new_freight(worker.gantry, project, "5.0.1")
        first = await worker.gantry.promote(project, "dev", f1["name"])
        lock = client.get_workflow_handle(stage_workflow_id(project, "dev"))

        async def holder() -> str | None:
            try:
                return (await lock.query("lock", result_type=StageLockView)).holder
            except Exception:
                return None

        await wait_for(lambda: _eq(holder(), first.id), timeout=30, message="the first promotion to hold the lock")
        second = await worker.gantry.promote(project, "dev", f2["name"])
        await wait_for(
            lambda: _contains_queue(lock, second.id), timeout=30, message="the second promotion to queue"
        )
        await first.terminate("simulated loss of the holder")
        await wait_for(lambda: _eq(holder(), second.id), timeout=40, message="the lock to move to the waiter")
        await second.signal("abort", "test done")
        assert (await asyncio.wait_for(second.result(), 30)).phase == "Aborted"


async def _eq(value, expected) -> bool:
    return (await value) == expected


async def _contains_queue(lock, promotion: str) -> bool:
    view = await lock.query("lock", result_type=StageLockView)
    return promotion in view.queue


ALL_AUTO = AUTO_CONFIG.replace('name: "glob:stag*"', 'name: "regex:dev|staging"')


async def test_new_freight_flows_to_direct_stages_and_on(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"flow-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url) + ALL_AUTO.format(project=project))
    freight = await new_freight(worker.gantry, project, "9.0.0")

    async def current(stage: str) -> bool:
        views = {s.name: s for s in await worker.gantry.stages(project)}
        return views[stage].freight == freight["name"]

    await wait_for(lambda: current("dev"), timeout=60, message="new freight to reach dev by itself")
    await wait_for(lambda: current("staging"), timeout=60, message="verified freight to reach staging")
    assert "newTag: 9.0.0" in repo.show("env/staging/kustomization.yaml")


async def test_promoting_older_freight_holds_auto_promotion(
    client: Client, worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"hold-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url))
    old = await new_freight(worker.gantry, project, "1.0.0")
    newer = await new_freight(worker.gantry, project, "1.1.0")
    # a user rolls dev back to the older Freight, then auto-promotion is switched on
    assert (await (await worker.gantry.promote(project, "dev", old["name"])).result()).phase == "Succeeded"
    await apply_text(worker.gantry, ALL_AUTO.format(project=project))
    newest = await new_freight(worker.gantry, project, "1.2.0")

    stage = client.get_workflow_handle(stage_workflow_id(project, "dev"))

    async def held() -> bool:
        try:
            async for event in stage.fetch_history_events():
                attrs = event.activity_task_completed_event_attributes
                if event.HasField("activity_task_completed_event_attributes") and b"on hold" in attrs.result.payloads[0].data:
                    return True
        except Exception:
            return False
        return False

    await wait_for(held, timeout=30, message="the auto-promotion of the newest freight to be held")
    views = {s.name: s for s in await worker.gantry.stages(project)}
    assert views["dev"].freight == old["name"]
    # promoting the newest by hand releases the hold
    assert (await (await worker.gantry.promote(project, "dev", newest["name"])).result()).phase == "Succeeded"
    held_now = await client.get_workflow_handle(f"project/{project}").query(
        "auto_promotion_held", {"stage": "dev", "origin": "app"}
    )
    assert held_now is False
    assert newer["name"] != newest["name"]


async def test_the_narrow_project_queries_agree_with_the_manifests_they_replace(
    client: Client, worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    """notify_downstream and auto_promote ask the project two small questions instead of
    reading every manifest; a project whose workflow runs code from before those queries (a
    rolling upgrade) is answered from the manifests, with the same answers."""
    from activities.stages import StageActivities
    from workflows.messages import AutoPromotionState

    repo = make_gitops_repo(tmp_path / "remote")
    project = f"narrow-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url) + AUTO_CONFIG.format(project=project))
    stages = StageActivities(client, worker.task_queue)
    narrow = {
        "new": await stages._downstream(project, "app", ""),
        "from dev": await stages._downstream(project, "app", "dev"),
        "dev": await stages._auto_promotion(project, "dev", "app"),
        "staging": await stages._auto_promotion(project, "staging", "app"),
        "gone": await stages._auto_promotion(project, "nope", "app"),
    }
    assert [d.stage for d in narrow["from dev"]] == ["staging"]  # the only Stage with auto-promotion on
    assert narrow["new"] == []  # dev takes Freight directly, but its auto-promotion is off
    assert narrow["dev"] == AutoPromotionState(exists=True, enabled=False, held=False)
    assert narrow["staging"] == AutoPromotionState(exists=True, enabled=True, held=False)
    assert narrow["gone"] == AutoPromotionState(exists=False)

    # the real server's answer to a query the workflow does not know is "ask the manifests"
    assert await stages._ask_project(project, "no_such_query", AutoPromotionState(exists=True), dict) is None

    async def old_code(*args: object) -> None:
        return None

    stages._ask_project = old_code  # type: ignore[method-assign]
    assert await stages._downstream(project, "app", "") == narrow["new"]
    assert await stages._downstream(project, "app", "dev") == narrow["from dev"]
    for stage in ("dev", "staging"):
        assert await stages._auto_promotion(project, stage, "app") == narrow[stage]
    assert await stages._auto_promotion(project, "nope", "app") == narrow["gone"]


async def test_match_upstream_follows_the_upstream_stage_back(
    client: Client, worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    """selectionPolicy MatchUpstream: staging takes what dev has now, even older Freight
    auto-promoted before (NewestFreight would auto-promote each Freight once)."""
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"match-{unique}"
    manifests = pipeline_manifests(project, repo.url).replace(
        "      stages: [dev]", "      stages: [dev]\n      autoPromotionOptions: {selectionPolicy: MatchUpstream}"
    )
    assert "MatchUpstream" in manifests
    await apply_text(worker.gantry, manifests + AUTO_CONFIG.format(project=project))
    first, second = await new_freight(worker.gantry, project, "5.0.0"), await new_freight(worker.gantry, project, "5.1.0")

    async def staging_has(freight: dict) -> bool:
        views = {s.name: s for s in await worker.gantry.stages(project)}
        return views["staging"].freight == freight["name"]

    for freight in (first, second, first):  # the last: dev goes back to older Freight
        assert (await (await worker.gantry.promote(project, "dev", freight["name"])).result()).phase == "Succeeded"
        await wait_for(lambda f=freight: staging_has(f), timeout=60, message=f"staging to follow dev to {freight['name'][:7]}")
    assert "newTag: 5.0.0" in repo.show("env/staging/kustomization.yaml")
    autos = [r for r in await worker.gantry.promotions(project, "staging") if r["phase"] == "Succeeded"]
    assert len(autos) == 3

    # holds compare with MatchUpstream's candidate (what dev has), not with the newest Freight
    project_handle = client.get_workflow_handle(f"project/{project}")

    async def held(expected: bool) -> bool:
        return await project_handle.query("auto_promotion_held", {"stage": "staging", "origin": "app"}) is expected

    assert (await (await worker.gantry.promote(project, "staging", second["name"])).result()).phase == "Succeeded"
    await wait_for(lambda: held(True), timeout=20, message="promoting what dev does not have to hold staging")
    assert (await (await worker.gantry.promote(project, "staging", first["name"])).result()).phase == "Succeeded"
    await wait_for(lambda: held(False), timeout=20, message="promoting what dev has to release the hold")


async def test_newest_freight_is_not_auto_promoted_over_newer_freight(
    client: Client, worker: WorkerHandle, tmp_path: Path, unique: str
) -> None:
    """NewestFreight (the default): when dev goes back to older Freight, staging keeps the
    newer Freight it has, as Kargo's candidate is the newest available."""
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"newest-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url) + AUTO_CONFIG.format(project=project))
    old, new = await new_freight(worker.gantry, project, "6.0.0"), await new_freight(worker.gantry, project, "6.1.0")
    assert (await (await worker.gantry.promote(project, "dev", new["name"])).result()).phase == "Succeeded"

    async def staging_has(freight: dict) -> bool:
        views = {s.name: s for s in await worker.gantry.stages(project)}
        return views["staging"].freight == freight["name"]

    await wait_for(lambda: staging_has(new), timeout=60, message="staging to take the new Freight")
    assert (await (await worker.gantry.promote(project, "dev", old["name"])).result()).phase == "Succeeded"
    stage = client.get_workflow_handle(stage_workflow_id(project, "staging"))

    async def skipped() -> bool:
        async for event in stage.fetch_history_events():
            attrs = event.activity_task_completed_event_attributes
            if event.HasField("activity_task_completed_event_attributes") and b"has newer Freight" in attrs.result.payloads[0].data:
                return True
        return False

    await wait_for(skipped, timeout=60, message="the offer of the older Freight to be turned down")
    assert await staging_has(new)
