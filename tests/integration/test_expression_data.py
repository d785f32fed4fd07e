"""configMap(), secret(), stageMetadata() and now() in a real promotion (issue #15).

A project applies a ConfigMap; the worker's credentials file holds a named secret. One step
calls an HTTP endpoint whose path carries the secret (the server sees it), another composes
it into an output (which comes back `***`); then the COMPLETE histories of the promotion,
the project and the Stage hold the secret nowhere, in clear or base64. now() renders the
workflow's time: replaying the promotion's history renders the very same step inputs. A
promotion started with `rollback` shows `ctx.meta.promotion.rollback` true.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities.step_secrets import REDACTED
from client.worker import WORKFLOWS, sandbox_runner
from tests.conftest import WorkerHandle
from tests.httpserver import ScriptedServer
from tests.integration.test_no_secrets_in_history import assert_histories_clean
from tests.integration.test_step_semantics import result
from tests.integration.test_promotion import apply_text

pytestmark = pytest.mark.integration

IMAGE = "registry.test/app"
#: what the replay saw each step get: (activity, input as JSON)
REPLAYED: list[tuple[str, str]] = []


def manifests(project: str, base: str) -> str:
    """One Stage: an http call with a secret in its path, set-metadata, then a compose-output
    of every data function; the project's ConfigMap and a shared one."""
    steps = [
        {"uses": "http", "as": "call", "config": {
            "url": "${{ configMap('settings').base }}/hook/${{ secret('api').token }}",
            "outputs": [{"name": "status", "fromExpression": "response.status"}]}},
        {"uses": "set-metadata", "as": "mark", "config": {
            "updates": [{"kind": "Stage", "name": "${{ ctx.stage }}", "values": {"tier": "gold"}}]}},
        {"uses": "compose-output", "as": "show", "config": {
            "region": "${{ configMap('settings').region }}",
            "tier": "${{ stageMetadata(ctx.stage).tier }}",
            "team": "${{ freightMetadata(ctx.targetFreight.name)?.team ?? 'none' }}",
            "leak": "token=${{ secret('api').token }}",
            "missing": "${{ secret('nope') }}",
            "stamp": "${{ now().UnixMilli() }}",
            "day": "${{ now().Format('2006-01-02') }}",
            "rollback": "${{ ctx.meta.promotion.rollback }}",
            "shared": "${{ sharedConfigMap('common-' + ctx.project).owner ?? 'none' }}",
            "sharedLiteral": "${{ sharedConfigMap('common-%s').owner }}" % project,
        }},
    ]
    docs = [
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": project}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"common-{project}",
                                                              "namespace": "kargo-shared-resources"},
         "data": {"owner": "platform"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": project},
         "data": {"base": base, "region": "eu-west-1"}},
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse", "metadata": {"name": "app", "namespace": project},
         "spec": {"subscriptions": [{"image": {"repoURL": IMAGE}}]}},
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage", "metadata": {"name": "dev", "namespace": project},
         "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "app"}, "sources": {"direct": True}}],
                  "promotionTemplate": {"spec": {"steps": steps}}}},
    ]
    return "\n---\n".join(json.dumps(d) for d in docs) + "\n"


class _Capture(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> Any:
        if workflow.info().workflow_type == "PromotionWorkflow" and input.activity in ("http", "compose-output"):
            REPLAYED.append((input.activity, input.args[0].model_dump_json()))
        return super().start_activity(input)


async def test_config_maps_secrets_metadata_and_now_in_a_promotion(
    worker: WorkerHandle, cluster_scope: None, client: Client, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    token = f"Tk{secrets.token_urlsafe(24)}"
    project = f"data-{unique}"
    store = tmp_path / "credentials.yaml"
    store.write_text(f"secrets:\n- name: api\n  project: {project}\n  data:\n    token: {token}\n"
                     f"- name: api\n  project: other-project\n  data:\n    token: not-this-one\n")
    monkeypatch.setenv("GANTRY_CREDENTIALS_FILE", str(store))

    with ScriptedServer(then=(200, {"ok": True})) as server:
        await apply_text(worker.gantry, manifests(project, server.url))
        freight = await worker.gantry.create_freight(
            project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": "1.0.0"}]}
        )
        handle = await worker.gantry.promote(project, "dev", freight["name"], actor="tester", rollback=True)
        status = await result(handle, timeout=60)
        paths = [r.path for r in server.requests]

    assert status.phase == "Succeeded", status
    assert paths == [f"/hook/{token}"], "the step got the secret, resolved on its worker"
    show = status.state["show"]
    assert show["leak"] == "token=***", "a secret a step hands back is taken out"
    assert show["shared"] == show["sharedLiteral"] == "platform", "a shared ConfigMap, by computed and literal name"
    assert show["rollback"] is True, "a promotion started as a rollback says so to its steps"
    assert show["missing"] == {} and show["region"] == "eu-west-1" and show["tier"] == "gold" and show["team"] == "none"
    started, finished = status.started_at.timestamp() * 1000, status.finished_at.timestamp() * 1000
    assert started <= show["stamp"] <= finished, "now() is the workflow's time during the promotion"
    assert show["day"] == status.started_at.strftime("%Y-%m-%d") or show["day"] == status.finished_at.strftime("%Y-%m-%d")
    await assert_histories_clean(client, handle, project, token)
    logged = [r.getMessage() for r in caplog.records]
    assert any(f"/hook/{REDACTED}" in line for line in logged), "the http step logs its URL, scrubbed"
    assert not [(r.name, r.getMessage()) for r in caplog.records if token in r.getMessage()]

    # what the first run sent each step, and what a replay of its history renders: the same
    history = await handle.fetch_history()
    recorded = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in ("http", "compose-output"):
                recorded.append((attrs.activity_type.name, attrs.input.payloads[0].data.decode()))
    REPLAYED.clear()
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=sandbox_runner(), data_converter=pydantic_data_converter,
                        interceptors=[_Capture()])
    await replayer.replay_workflow(history)
    assert [name for name, _ in REPLAYED] == [name for name, _ in recorded] == ["http", "compose-output"]
    for (_, replayed), (_, first) in zip(REPLAYED, recorded):
        assert json.loads(replayed) == json.loads(first)
    assert "now().UnixMilli()" not in recorded[1][1] and token not in recorded[0][1]


async def test_a_computed_config_map_name_over_many_large_config_maps_is_refused_before_any_step(
    worker: WorkerHandle, unique: str
) -> None:
    """configMap(<computed name>) reads every ConfigMap of the project into the promotion's
    context; six of 60 KB would put 360 KB in one payload: the promotion fails at its start,
    saying why and how to read less, and no step runs."""
    project = f"bigdata-{unique}"
    docs = [
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": project}},
        *[
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": project},
             "data": {"blob": "x" * 60_000}}
            for i in range(6)
        ],
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse", "metadata": {"name": "app", "namespace": project},
         "spec": {"subscriptions": [{"image": {"repoURL": IMAGE}}]}},
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage", "metadata": {"name": "dev", "namespace": project},
         "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "app"}, "sources": {"direct": True}}],
                  "promotionTemplate": {"spec": {"steps": [{"uses": "compose-output", "as": "show", "config": {
                      "size": "${{ len(configMap('cm' + ctx.stage).blob ?? '') }}"}}]}}}},
    ]  # fmt: skip
    await apply_text(worker.gantry, "\n---\n".join(json.dumps(d) for d in docs) + "\n")
    freight = await worker.gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": "1.0.0"}]}
    )
    status = await result(await worker.gantry.promote(project, "dev", freight["name"]), timeout=60)
    assert status.phase in ("Errored", "Failed"), status
    assert "over the 256 KB a promotion carries" in status.message and "configMap()" in status.message, status.message
    assert not [s for s in status.steps if s.status not in ("Pending", "Skipped", None)], status.steps
