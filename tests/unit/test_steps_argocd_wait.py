"""argocd-wait against the loopback Argo CD fake (tests/fakes/argocd.py)."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps.argocd_update import argocd_update
from activities.steps.argocd_wait import argocd_wait
from activities.steps.base import STEP_FAILED
from tests.fakes.argocd import FakeArgoCD
from tests.gitrepos import promo, step, work_root  # noqa: F401

env = ActivityEnvironment()
GIT = "https://git.example.com/org/deploy.git"


@pytest.fixture
def argocd(monkeypatch: pytest.MonkeyPatch):
    fake = FakeArgoCD().start()
    for var in ("GANTRY_CREDENTIALS_FILE", "GANTRY_ARGOCD_NAMESPACE", "GANTRY_ARGOCD_INSECURE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GANTRY_ARGOCD_URL", fake.url)
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_URL", fake.url)
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_TOKEN", fake.token)
    yield fake
    fake.stop()


async def wait(promo: str, cfg: dict, alias: str = "wait"):
    return await env.run(argocd_wait, step(promo, "argocd-wait", cfg, alias=alias))


async def failure(coro) -> str:
    with pytest.raises(ApplicationError) as info:
        await coro
    assert info.value.type == STEP_FAILED and info.value.non_retryable
    return str(info.value)


def set_status(fake: FakeArgoCD, name: str, **status: object) -> None:
    with fake.lock:
        fake.apps[("argocd", name)]["status"].update(status)


async def test_waits_for_a_sync_started_elsewhere_then_succeeds(argocd: FakeArgoCD, promo: str) -> None:
    # an app without the authorized-stage annotation: argocd-wait only reads
    argocd.add_app("app-uat", source={"repoURL": GIT, "path": ".", "targetRevision": "main"})
    argocd.add_app("app-auth", authorized_stage="my-project:uat",
                   source={"repoURL": GIT, "path": ".", "targetRevision": "main"})
    await env.run(argocd_update, step(promo, "argocd-update", {"apps": [{"name": "app-auth"}]}))
    set_status(argocd, "app-uat", sync={"status": "Synced"})
    cfg = {"apps": [{"name": "app-uat"}, {"name": "app-auth"}]}
    first = await wait(promo, cfg)
    assert first.status == "Running"
    assert "argocd/app-auth: operation in progress" in first.message
    statuses = [first.status]
    for _ in range(5):
        result = await wait(promo, cfg)
        statuses.append(result.status)
        if result.status != "Running":
            break
    assert statuses[-1] == "Succeeded" and "Running" in statuses
    assert result.outputs == {"apps": [{"name": "app-uat", "namespace": "argocd"},
                                       {"name": "app-auth", "namespace": "argocd"}]}
    assert argocd.token not in result.model_dump_json()


async def test_selector_and_wait_for(argocd: FakeArgoCD, promo: str) -> None:
    argocd.add_app("a1", labels={"team": "x"})
    argocd.add_app("a2", labels={"team": "x"})
    argocd.add_app("b", labels={"team": "y"})
    set_status(argocd, "a1", health={"status": "Suspended"}, sync={"status": "OutOfSync"})
    set_status(argocd, "a2", health={"status": "Degraded"}, sync={"status": "OutOfSync"})
    selector = {"matchExpressions": [{"key": "team", "operator": "In", "values": ["x"]}]}
    ok = await wait(promo, {"apps": [{"selector": selector, "waitFor": ["suspended", "degraded"]}]})
    assert ok.status == "Succeeded"
    assert [a["name"] for a in ok.outputs["apps"]] == ["a1", "a2"]
    running = await wait(promo, {"apps": [{"selector": {"matchLabels": {"team": "x"}}, "waitFor": ["health"]}]}, "w2")
    assert running.status == "Running" and "health Suspended (waiting for Healthy)" in running.message
    sync = await wait(promo, {"apps": [{"name": "b", "waitFor": ["sync"]}]}, "w3")
    assert sync.status == "Running" and "sync Unknown (waiting for Synced)" in sync.message


async def test_health_regressing_to_degraded_fails_at_once(argocd: FakeArgoCD, promo: str) -> None:
    argocd.add_app("app")
    set_status(argocd, "app", health={"status": "Progressing"}, sync={"status": "Synced"})
    assert (await wait(promo, {"apps": [{"name": "app"}]})).status == "Running"
    set_status(argocd, "app", health={"status": "Degraded"})
    assert "health has regressed from Progressing to Degraded" in await failure(wait(promo, {"apps": [{"name": "app"}]}))
    # another step (alias) that first sees it Degraded only waits
    assert (await wait(promo, {"apps": [{"name": "app"}]}, alias="other")).status == "Running"


async def test_health_is_not_trusted_before_reconciliation(argocd: FakeArgoCD, promo: str) -> None:
    argocd.add_app("app")
    set_status(argocd, "app", sync={"status": "Synced"}, reconciledAt="2024-01-01T00:00:00Z",
               operationState={"phase": "Succeeded", "finishedAt": "2024-01-01T00:05:00Z"})
    result = await wait(promo, {"apps": [{"name": "app"}]})
    assert result.status == "Running" and "health not trusted yet" in result.message
    assert any(m == "GET" and "refresh=normal" in path for m, path in argocd.requests)
    set_status(argocd, "app", reconciledAt="2024-01-01T00:06:00Z")
    assert (await wait(promo, {"apps": [{"name": "app"}]})).status == "Succeeded"


async def test_failures_name_the_field(argocd: FakeArgoCD, promo: str) -> None:
    argocd.add_app("app")
    set_status(argocd, "app", conditions=[{"type": "ComparisonError", "message": "bad manifest"}])
    assert "has 'ComparisonError' condition: bad manifest" in await failure(wait(promo, {"apps": [{"name": "app"}]}))
    assert "config field 'apps[0].name': Argo CD Application 'nope' not found" in await failure(
        wait(promo, {"apps": [{"name": "nope"}]})
    )
    assert "config field 'apps[0].selector': no Argo CD Applications match" in await failure(
        wait(promo, {"apps": [{"selector": {"matchLabels": {"team": "none"}}}]})
    )
    cases = [
        ({"apps": [{"name": "a", "selector": {"matchLabels": {"x": "y"}}}]}, "set exactly one of 'name' and 'selector'"),
        ({"apps": [{"name": "a", "waitFor": ["healthy"]}]}, "config field 'apps[0].waitFor[0]'"),
        ({"apps": [{"name": "a", "waitFor": ["sync", "sync"]}]}, "must not repeat"),
        ({"apps": [{"nmae": "a"}]}, "unknown field 'nmae'; did you mean 'name'?"),
        ({"apps": [{"selector": {}}]}, "a selector needs matchLabels or matchExpressions"),
        ({"apps": [{"selector": {"matchExpressions": [{"key": "k", "operator": "In"}]}}]}, "operator In needs at least one value in 'values'"),
        ({"apps": []}, "config field 'apps': List should have at least 1 item"),
    ]
    for cfg, message in cases:
        assert message in await failure(wait(promo, cfg))
