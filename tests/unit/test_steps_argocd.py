"""argocd-update against the loopback Argo CD fake (tests/fakes/argocd.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.argocd_update import argocd_update, label_selector  # noqa: E402
from activities.steps.base import STEP_FAILED  # noqa: E402
from tests.fakes.argocd import FakeArgoCD, _selects  # noqa: E402
from tests.gitrepos import step  # noqa: E402

env = ActivityEnvironment()
GIT = "https://git.example.com/org/deploy.git"
CHARTS = "https://charts.example.com"
OK = "my-project:uat"


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


async def update(cfg: dict, promotion: str = "uat.01abc.f00d"):
    return await env.run(argocd_update, step(promotion, "argocd-update", cfg))


async def run_until_done(cfg: dict, promotion: str = "uat.01abc.f00d", limit: int = 10):
    """What the workflow does: call again while Running (here without the timer)."""
    results = []
    for _ in range(limit):
        res = await update(cfg, promotion)
        results.append(res)
        if res.status != "Running":
            return results
    raise AssertionError("still Running")


async def test_update_target_revision_syncs_and_waits(argocd: FakeArgoCD) -> None:
    argocd.add_app("app-uat", authorized_stage=OK,
                   source={"repoURL": GIT, "path": "env/uat", "targetRevision": "main"})
    cfg = {"apps": [{"name": "app-uat", "sources": [
        {"repoURL": "https://git.example.com/org/deploy", "desiredRevision": "abc123", "updateTargetRevision": True}]}]}
    results = await run_until_done(cfg)
    assert [r.status for r in results] == ["Running", "Running", "Succeeded"]
    app = argocd.app("app-uat")
    assert app["spec"]["source"]["targetRevision"] == "abc123"
    assert app["metadata"]["annotations"]["argocd.argoproj.io/refresh"] == "hard"
    assert app["status"]["sync"] == {"status": "Synced", "revision": "abc123"}
    assert app["status"]["health"] == {"status": "Healthy"}
    assert len(argocd.syncs) == 1
    infos = {i["name"]: i["value"] for i in argocd.syncs[0]["infos"]}
    assert infos["kargo.akuity.io/promotion"] == "uat.01abc.f00d"
    out = results[-1].outputs
    assert out["apps"] == [{"name": "app-uat", "namespace": "argocd"}]
    assert out["healthCheck"] == {"kind": "argocd-update", "apps": [
        {"name": "app-uat", "namespace": "argocd", "desiredRevision": "abc123", "desiredRevisions": ["abc123"]}]}
    assert argocd.token not in results[-1].model_dump_json()
    # the same promotion again: already done, no new sync
    assert (await update(cfg)).status == "Succeeded" and len(argocd.syncs) == 1
    # a new promotion syncs again
    assert (await run_until_done(cfg, promotion="uat.02def.beef"))[-1].status == "Succeeded"
    assert len(argocd.syncs) == 2


async def test_kustomize_and_helm_images_multi_source(argocd: FakeArgoCD) -> None:
    argocd.add_app("multi", namespace="apps", authorized_stage=f"other:prod, {OK}", sources=[
        {"repoURL": CHARTS, "chart": "my-app", "targetRevision": "1.0.0",
         "helm": {"parameters": [{"name": "image.tag", "value": "old"}, {"name": "replicas", "value": "2"}]}},
        {"repoURL": GIT, "path": "overlays/uat", "targetRevision": "main"},
    ], sync_policy={"syncOptions": ["CreateNamespace=true"]})
    cfg = {"apps": [{"name": "multi", "namespace": "apps", "sources": [
        {"repoURL": CHARTS, "chart": "my-app", "desiredRevision": "1.2.0", "updateTargetRevision": True,
         "helm": {"images": [{"key": "image.tag", "value": "v2"}, {"key": "image.repository", "value": "reg/app"}]}},
        {"repoURL": GIT, "kustomize": {"images": [
            {"repoURL": "reg/app", "tag": "v2"}, {"repoURL": "reg/side", "digest": "sha256:abc", "newName": "mirror/side"}]}},
    ]}]}
    results = await run_until_done(cfg)
    assert results[-1].status == "Succeeded"
    chart, git = argocd.app("multi", "apps")["spec"]["sources"]
    assert chart["targetRevision"] == "1.2.0"
    assert chart["helm"]["parameters"] == [
        {"name": "image.tag", "value": "v2"}, {"name": "replicas", "value": "2"}, {"name": "image.repository", "value": "reg/app"}]
    assert git["kustomize"]["images"] == ["reg/app:v2", "reg/side=mirror/side@sha256:abc"]
    assert git["targetRevision"] == "main"
    assert argocd.syncs[0]["syncOptions"] == {"items": ["CreateNamespace=true"]}
    assert results[-1].outputs["healthCheck"]["apps"][0]["desiredRevisions"] == ["1.2.0", ""]


async def test_refuses_unauthorized_apps(argocd: FakeArgoCD) -> None:
    argocd.add_app("none")
    argocd.add_app("other", authorized_stage="my-project:prod")
    argocd.add_app("glob", authorized_stage="my-project:*")
    for name, text in [("none", "annotation kargo.akuity.io/authorized-stage is missing"),
                       ("other", "does not permit mutation by Stage my-project:uat"),
                       ("glob", "is not a list of <project>:<stage>"),
                       ("missing", "not found")]:
        with pytest.raises(ApplicationError) as e:
            await update({"apps": [{"name": name}]})
        assert e.value.type == STEP_FAILED and "apps[0].name" in str(e.value) and text in str(e.value), str(e.value)
    assert argocd.syncs == [] and not [r for r in argocd.requests if r[0] != "GET"]


async def test_selector_updates_only_authorized_apps(argocd: FakeArgoCD) -> None:
    argocd.add_app("a", authorized_stage=OK, labels={"team": "x", "env": "uat"})
    argocd.add_app("b", authorized_stage=OK, labels={"team": "x", "env": "uat"})
    argocd.add_app("c", labels={"team": "x", "env": "uat"})  # not authorized: skipped
    argocd.add_app("d", authorized_stage=OK, labels={"team": "y"})
    sel = {"matchLabels": {"team": "x"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["uat"]}]}
    results = await run_until_done({"apps": [{"selector": sel}]})
    assert [a["name"] for a in results[-1].outputs["apps"]] == ["a", "b"]
    assert sorted(s["app"] for s in argocd.syncs) == ["a", "b"]
    with pytest.raises(ApplicationError) as e:
        await update({"apps": [{"selector": {"matchLabels": {"team": "z"}}}]})
    assert e.value.type == STEP_FAILED and "no Argo CD Applications match" in str(e.value)
    argocd.add_app("e", labels={"team": "q"})
    with pytest.raises(ApplicationError) as e:
        await update({"apps": [{"selector": {"matchLabels": {"team": "q"}}}]})
    assert "none is authorized" in str(e.value)


async def test_failed_sync_is_terminal(argocd: FakeArgoCD) -> None:
    argocd.add_app("app", authorized_stage=OK)
    argocd.fail_next_sync = True
    with pytest.raises(ApplicationError) as e:
        await run_until_done({"apps": [{"name": "app"}]})
    assert e.value.type == STEP_FAILED and "sync failed" in str(e.value) and "failed to apply" in str(e.value)


async def test_waits_for_someone_elses_operation(argocd: FakeArgoCD) -> None:
    argocd.add_app("app", authorized_stage=OK)
    argocd.set_operation("app", {"phase": "Running", "operation": {"initiatedBy": {"username": "alice"}, "sync": {}}})
    res = await update({"apps": [{"name": "app"}]})
    assert res.status == "Running" and "alice" in res.message and argocd.syncs == []
    argocd.set_operation("app", {"phase": "Succeeded", "operation": {"initiatedBy": {"username": "alice"}}})
    assert (await run_until_done({"apps": [{"name": "app"}]}))[-1].status == "Succeeded"
    assert len(argocd.syncs) == 1


async def test_resyncs_when_revision_differs(argocd: FakeArgoCD) -> None:
    argocd.add_app("app", authorized_stage=OK, source={"repoURL": GIT, "path": ".", "targetRevision": "main"})
    argocd.resolve["main"] = "old-sha"
    cfg = {"apps": [{"name": "app", "sources": [{"repoURL": GIT, "desiredRevision": "new-sha"}]}]}
    await update(cfg)  # starts a sync that will land on old-sha
    argocd.resolve["main"] = "old-sha"
    await update(cfg)
    res = await update(cfg)  # completed at old-sha: not what we want, sync again
    assert res.status == "Running" and len(argocd.syncs) == 2
    argocd.resolve["main"] = "new-sha"
    assert (await run_until_done(cfg))[-1].status == "Succeeded"


async def test_login_with_username_and_password(argocd: FakeArgoCD, monkeypatch: pytest.MonkeyPatch) -> None:
    argocd.add_app("app", authorized_stage=OK)
    monkeypatch.delenv("GANTRY_ARGOCD_CREDENTIALS_1_TOKEN")
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_USERNAME", "admin")
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_PASSWORD", "admin-password")
    assert (await run_until_done({"apps": [{"name": "app"}]}))[-1].status == "Succeeded"
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_PASSWORD", "wrong")
    with pytest.raises(ApplicationError) as e:
        await update({"apps": [{"name": "app"}]})
    assert e.value.type == STEP_FAILED and "wrong" not in str(e.value)


async def test_configuration_errors(argocd: FakeArgoCD, monkeypatch: pytest.MonkeyPatch) -> None:
    argocd.add_app("app", authorized_stage=OK, source={"repoURL": GIT, "path": "."})
    cases = [
        ({"apps": []}, "apps"),
        ({"apps": [{}]}, "apps[0]"),
        ({"apps": [{"name": "a", "selector": {"matchLabels": {"a": "b"}}}]}, "apps[0]"),
        ({"apps": [{"name": "app", "sources": [{"repoURL": GIT, "updateTargetRevision": True}]}]},
         "apps[0].sources[0].desiredRevision"),
        ({"apps": [{"name": "app", "sources": [{"repoURL": "https://elsewhere/x"}]}]}, "apps[0].sources[0]"),
        ({"apps": [{"name": "app", "sources": [{"repoURL": GIT, "kustomize": {"images": [
            {"repoURL": "a", "tag": "1", "digest": "sha256:x"}]}}]}]}, "apps[0].sources[0].kustomize.images[0].tag"),
        ({"apps": [{"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]},
         "apps[0].selector.matchExpressions[0].operator"),
    ]
    for cfg, field in cases:
        with pytest.raises(ApplicationError) as e:
            await update(cfg)
        assert e.value.type == STEP_FAILED and field in str(e.value), (cfg, str(e.value))
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_TOKEN", "bad-token")
    with pytest.raises(ApplicationError) as e:
        await update({"apps": [{"name": "app"}]})
    assert e.value.type == STEP_FAILED and "401" in str(e.value) and "bad-token" not in str(e.value)
    monkeypatch.delenv("GANTRY_ARGOCD_URL")
    with pytest.raises(ApplicationError) as e:
        await update({"apps": [{"name": "app"}]})
    assert e.value.type == STEP_FAILED and "GANTRY_ARGOCD_URL" in str(e.value)


def test_label_selector_text() -> None:
    sel = {"matchLabels": {"team": "x"}, "matchExpressions": [
        {"key": "env", "operator": "NotIn", "values": ["prod", "stg"]},
        {"key": "owner", "operator": "Exists"}, {"key": "legacy", "operator": "DoesNotExist"}]}
    text = label_selector(sel, "s")
    assert text == "team=x,env notin (prod,stg),owner,!legacy"
    assert _selects(text, {"team": "x", "env": "uat", "owner": "me"})
    assert not _selects(text, {"team": "x", "env": "prod", "owner": "me"})
    assert not _selects(text, {"team": "x", "env": "uat", "owner": "me", "legacy": "1"})
