"""Kargo's step semantics, proven on a real dev server: `if`, the implicit skip after a
failure, continueOnError, retry (error threshold, soft timeout), Running steps polled on
durable timers, abort, the worst phase, outputs, set-freight-alias and dry runs.

Every promotion here runs real activities on in-process workers; HTTP endpoints are a
scripted loopback server (tests/httpserver.py) whose answers each test chooses.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from client.api import Gantry
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from tests.conftest import WorkerHandle, wait_for
from tests.httpserver import ScriptedServer
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from workflows.messages import PromotionRequest, PromotionStatus

pytestmark = pytest.mark.integration

IMAGE = "registry.test/app"
RESULT_TIMEOUT = 20.0


def manifests(project: str, steps: list[dict[str, Any]], stage: str = "s") -> str:
    """A project with one direct Stage whose template is `steps` (JSON is YAML)."""
    docs = [
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": project}},
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Warehouse",
            "metadata": {"name": "app", "namespace": project},
            "spec": {"subscriptions": [{"image": {"repoURL": IMAGE}}]},
        },
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": stage, "namespace": project},
            "spec": {
                "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "app"}, "sources": {"direct": True}}],
                "promotionTemplate": {"spec": {"steps": steps}},
            },
        },
    ]
    return "\n---\n".join(json.dumps(d) for d in docs) + "\n"


async def start(worker: WorkerHandle, unique: str, steps: list[dict[str, Any]]) -> tuple[WorkflowHandle, str, dict]:
    project = f"sem-{unique}"
    await apply_text(worker.gantry, manifests(project, steps))
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": "1.2.3"}]}
    )
    handle = await worker.gantry.promote(project, "s", freight["name"], actor="tester")
    return handle, project, freight


async def result(handle: WorkflowHandle, timeout: float = RESULT_TIMEOUT) -> PromotionStatus:
    """The promotion's result; at the deadline, fail showing where it stands."""
    try:
        return await asyncio.wait_for(asyncio.shield(Gantry(handle._client).promotion_result(handle.id)), timeout)
    except asyncio.TimeoutError:
        now = await handle.query("status", result_type=PromotionStatus)
        raise AssertionError(f"promotion did not finish within {timeout}s: {now!r}") from None


async def run(worker: WorkerHandle, unique: str, steps: list[dict[str, Any]]) -> PromotionStatus:
    handle, _, _ = await start(worker, unique, steps)
    return await result(handle)


def by_alias(status: PromotionStatus) -> dict[str, Any]:
    return {s.alias: s for s in status.steps}


def ok(alias: str, **extra: Any) -> dict[str, Any]:
    """A step that always succeeds and leaves `outputs[alias].ran == True`."""
    return {"uses": "compose-output", "as": alias, "config": {"ran": True}, **extra}


def fail(alias: str, message: str = "boom", **extra: Any) -> dict[str, Any]:
    return {"uses": "fail", "as": alias, "config": {"message": message}, **extra}


async def activity_events(handle: WorkflowHandle) -> list[tuple[str, str]]:
    """(kind, activity type or timer id) of scheduled activities and started timers, in order."""
    events = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            events.append(("activity", event.activity_task_scheduled_event_attributes.activity_type.name))
        elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            events.append(("timer", event.timer_started_event_attributes.timer_id))
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            events.append(("fired", event.timer_fired_event_attributes.timer_id))
    return events


# -- if --------------------------------------------------------------------------------


async def test_if_false_skips_the_step_and_the_next_runs(worker: WorkerHandle, unique: str) -> None:
    status = await run(worker, unique, [ok("a", **{"if": "${{ false }}"}), ok("b"), ok("c", **{"if": "${{ 1 < 2 }}"})])
    steps = by_alias(status)
    assert steps["a"].status == "Skipped" and "a" not in status.state
    assert steps["b"].status == "Succeeded" and status.state["b"] == {"ran": True}
    assert steps["c"].status == "Succeeded"
    assert status.phase == "Succeeded", status


async def test_if_that_is_not_a_bool_errors_the_step(worker: WorkerHandle, unique: str) -> None:
    status = await run(worker, unique, [ok("a", **{"if": "${{ 'yes' }}"}), ok("b")])
    steps = by_alias(status)
    assert steps["a"].status == "Errored", status
    assert "`if` must be true or false" in steps["a"].message and "'yes'" in steps["a"].message
    assert "a" not in status.state, "a step whose `if` is not a bool must not run"
    assert steps["b"].status == "Skipped", "no `if`: skipped after an Errored step"
    assert status.phase == "Errored"
    assert "step a" in status.message


async def test_failure_always_and_status_after_a_failed_step(worker: WorkerHandle, unique: str) -> None:
    status = await run(
        worker,
        unique,
        [
            ok("first"),
            fail("broken", "on purpose"),
            ok("plain"),  # no `if`: skipped after the failure
            ok("on-failure", **{"if": "${{ failure() }}"}),
            ok("on-success", **{"if": "${{ success() }}"}),
            ok("always", **{"if": "${{ always() }}"}),
            ok("by-status", **{"if": "${{ status('broken') == 'Failed' && status('first') == 'Succeeded' }}"}),
            ok("by-status-no", **{"if": "${{ status('broken') == 'Succeeded' }}"}),
        ],
    )
    steps = by_alias(status)
    assert steps["first"].status == "Succeeded"
    assert steps["broken"].status == "Failed" and "failed: on purpose" in steps["broken"].message
    assert steps["plain"].status == "Skipped" and "plain" not in status.state
    assert steps["on-failure"].status == "Succeeded" and status.state["on-failure"] == {"ran": True}
    assert steps["on-success"].status == "Skipped"
    assert steps["always"].status == "Succeeded"
    assert steps["by-status"].status == "Succeeded"
    assert steps["by-status-no"].status == "Skipped"
    assert status.phase == "Failed"
    assert status.message.startswith("step broken (fail): ") and "on purpose" in status.message


async def test_fail_step_message_is_kargos(worker: WorkerHandle, unique: str) -> None:
    status = await run(worker, unique, [fail("broken", "on purpose")])
    assert status.steps[0].status == "Failed"
    assert status.steps[0].message == "failed: on purpose"
    assert status.message == "step broken (fail): failed: on purpose"


async def test_an_expression_rendering_to_a_bad_type_fails_the_step_naming_the_field(
    worker: WorkerHandle, unique: str
) -> None:
    # validate/apply leave the expression for run time; after rendering, fail's `message` is 5
    steps = [
        {"uses": "compose-output", "as": "n", "config": {"count": 5}},
        {"uses": "fail", "as": "broken", "config": {"message": "${{ outputs.n.count }}"}},
    ]
    status = await run(worker, unique, steps)
    assert status.steps[1].status == "Failed"
    assert status.steps[1].message == "fail: config field 'message': Input should be a valid string"


async def test_without_if_every_step_after_a_failure_is_skipped(worker: WorkerHandle, unique: str) -> None:
    status = await run(worker, unique, [fail("x"), ok("y"), ok("z")])
    assert [s.status for s in status.steps] == ["Failed", "Skipped", "Skipped"]
    assert set(status.state) == set()
    assert status.phase == "Failed"


# -- continueOnError -------------------------------------------------------------------


async def test_continue_on_error_does_not_fail_the_promotion(worker: WorkerHandle, unique: str) -> None:
    status = await run(worker, unique, [fail("tolerated", continueOnError=True), ok("next"), ok("ok", **{"if": "${{ success() }}"})])
    steps = by_alias(status)
    assert steps["tolerated"].status == "Failed" and steps["tolerated"].continue_on_error
    assert steps["next"].status == "Succeeded", "a continueOnError failure must not skip later steps"
    assert steps["ok"].status == "Succeeded", "a continueOnError step does not count towards success()"
    assert status.phase == "Succeeded", status


# -- retry -----------------------------------------------------------------------------


def http_step(alias: str, url: str, **config: Any) -> dict[str, Any]:
    return {"uses": "http", "as": alias, "config": {"url": url, **config}}


async def test_error_threshold_retries_consecutive_errors(worker: WorkerHandle, unique: str) -> None:
    with ScriptedServer([(503, {}), (502, {})], then=(200, {"hello": "world"})) as server:
        step = http_step("call", server.url + "/x", outputs=[{"name": "hello", "fromExpression": "response.body.hello"}])
        step["retry"] = {"errorThreshold": 3}
        status = await run(worker, unique, [step, ok("after")])
        assert server.count == 3
    call = by_alias(status)["call"]
    assert call.status == "Succeeded", status
    assert call.error_count == 2
    assert status.state["call"] == {"hello": "world"}
    assert by_alias(status)["after"].status == "Succeeded"
    assert status.phase == "Succeeded"


async def test_default_error_threshold_is_one(worker: WorkerHandle, unique: str) -> None:
    with ScriptedServer([(503, {})], then=(200, {})) as server:
        status = await run(worker, unique, [http_step("call", server.url + "/x"), ok("after")])
        assert server.count == 1, "with the default threshold the step is not tried again"
    call = by_alias(status)["call"]
    assert call.status == "Errored", status
    assert call.error_count == 1
    assert "503" in call.message
    assert by_alias(status)["after"].status == "Skipped"
    assert status.phase == "Errored"


# -- Running and polling ---------------------------------------------------------------


async def test_running_step_is_polled_on_durable_timers(worker: WorkerHandle, unique: str) -> None:
    script = [(200, {"ready": False}), (200, {"ready": False})]
    with ScriptedServer(script, then=(200, {"ready": True, "version": "v7"})) as server:
        step = http_step(
            "wait", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s",
            outputs=[{"name": "version", "fromExpression": "response.body.version"}],
        )  # fmt: skip
        handle, _, _ = await start(worker, unique, [step])
        status = await result(handle)
        times = [r.at for r in server.requests]
    assert status.phase == "Succeeded", status
    wait = by_alias(status)["wait"]
    assert wait.status == "Succeeded" and wait.error_count == 0
    assert status.state["wait"] == {"version": "v7"}
    assert len(times) == 3
    assert all(b - a >= 0.9 for a, b in zip(times, times[1:])), f"polls must be ~1s apart: {times}"
    # the waits are workflow timers between the activity calls, not sleeps inside one
    events = [e for e in await activity_events(handle) if e[0] != "activity" or e[1] == "http"]
    kinds = [k for k, _ in events]
    assert kinds == ["activity", "timer", "fired", "activity", "timer", "fired", "activity"], events


async def test_running_step_times_out(worker: WorkerHandle, unique: str) -> None:
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        step = http_step("wait", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s")
        step["retry"] = {"timeout": "3s"}
        status = await run(worker, unique, [step, ok("after")])
        polls = server.count
    wait = by_alias(status)["wait"]
    assert wait.status == "Errored", status
    assert "timed out" in wait.message
    assert 3 <= polls <= 6, polls
    assert by_alias(status)["after"].status == "Skipped"
    assert status.phase == "Errored"


# -- abort -----------------------------------------------------------------------------


async def test_abort_stops_a_polling_step(worker: WorkerHandle, unique: str) -> None:
    with ScriptedServer([], then=(200, {"ready": False})) as server:
        step = http_step("forever", server.url + "/ready", successExpression="response.body.ready", pollInterval="1s")
        handle, _, _ = await start(worker, unique, [ok("before"), step, ok("after", **{"if": "${{ always() }}"})])
        await wait_for(lambda: server.count >= 2, timeout=15, message="the http step to poll twice")
        await handle.signal("abort", "stop it")
        status = await result(handle)
    steps = by_alias(status)
    assert status.phase == "Aborted", status
    assert status.message == "stop it"
    assert steps["before"].status == "Succeeded"
    assert steps["forever"].status == "Aborted"
    assert steps["after"].status not in ("Succeeded", "Running") and "after" not in status.state
    ran = [name for kind, name in await activity_events(handle) if kind == "activity"]
    assert "compose-output" in ran and ran.count("compose-output") == 1, ran


# -- worst phase -----------------------------------------------------------------------


async def test_phase_is_the_worst_step_phase(worker: WorkerHandle, unique: str) -> None:
    with ScriptedServer([], then=(500, {})) as server:
        status = await run(
            worker,
            unique,
            [
                http_step("errors", server.url + "/down") | {"if": "${{ always() }}"},
                fail("fails", **{"if": "${{ always() }}"}),
            ],
        )
    steps = by_alias(status)
    assert steps["errors"].status == "Errored", status
    assert steps["fails"].status == "Failed"
    assert status.phase == "Errored", "Errored is worse than Failed, whatever the order"
    assert status.message.startswith("step errors (http)")


# -- outputs ---------------------------------------------------------------------------


async def test_later_step_reads_earlier_outputs(worker: WorkerHandle, unique: str) -> None:
    status = await run(
        worker,
        unique,
        [
            {"uses": "compose-output", "as": "meta", "config": {"tag": "${{ imageFrom('registry.test/app').Tag }}", "n": 3}},
            {
                "uses": "file-write",
                "as": "write",
                "config": {
                    "path": "./out/info.yaml",
                    "contents": "# written by a step\ntag: '${{ outputs['meta'].tag }}'\nn: ${{ outputs.meta.n }}\n",
                },
            },
            {
                "uses": "yaml-parse",
                "as": "read",
                "config": {"path": "./out/info.yaml", "outputs": [{"name": "tag", "fromExpression": "tag"}, {"name": "n", "fromExpression": "n"}]},
            },
        ],
    )
    assert status.phase == "Succeeded", status
    assert status.state["meta"] == {"tag": "1.2.3", "n": 3}
    assert status.state["read"] == {"tag": "1.2.3", "n": 3}, "file-write must have written the rendered outputs"


# -- set-freight-alias -----------------------------------------------------------------


async def test_set_freight_alias_renames_the_freight(worker: WorkerHandle, unique: str) -> None:
    new_alias = f"golden-{unique}"
    step = {"uses": "set-freight-alias", "as": "rename", "config": {"name": "${{ ctx.targetFreight.name }}", "alias": new_alias}}
    handle, project, freight = await start(worker, unique, [step])
    status = await result(handle)
    assert status.phase == "Succeeded", status
    found = await worker.gantry.get_freight(project, new_alias)
    assert found["name"] == freight["name"]
    assert found.get("alias") == new_alias


# -- dry run ---------------------------------------------------------------------------


async def test_dry_run_renders_diffs_and_pushes_nothing(worker: WorkerHandle, tmp_path: Path, unique: str) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"dry-{unique}"
    await apply_text(worker.gantry, pipeline_manifests(project, repo.url))
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": "4.5.6"}]}
    )
    before = repo.commits()
    handle = await worker.gantry.client.start_workflow(
        "PromotionWorkflow",
        PromotionRequest(project=project, stage="dev", freight=freight["name"], dry_run=True),
        id=f"promotion/{project}/dev/dry-run.{unique}",
        task_queue=worker.task_queue,
        result_type=PromotionStatus,
    )
    status = await result(handle)
    assert status.phase == "Succeeded", status
    assert status.dry_run
    assert repo.commits() == before, "a dry run must not push"
    assert "newTag: 1.2.3" not in repo.show("env/dev/kustomization.yaml")
    uses = [s.uses for s in status.steps]
    assert uses == ["git-clone", "kustomize-set-image", "git-commit", "git-push"]
    push = status.steps[3]
    assert push.status == "Skipped" and "dry run" in push.message
    assert "+  newTag: 4.5.6" in status.diff or "newTag: 4.5.6" in status.diff, status.diff
    assert "env/dev/kustomization.yaml" in status.diff
    # every step's config, rendered
    assert status.steps[0].config["repoURL"] == repo.url  # from ${{ vars.repo }}
    assert status.steps[1].config["path"] == "./src/env/dev"
    assert push.config == {"path": "./src", "targetBranch": "main"}
    # the Freight did not become current in the stage
    stages = {s.name: s for s in await worker.gantry.stages(project)}
    assert stages["dev"].freight is None

