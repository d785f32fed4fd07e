"""Promoting to prod through a pull request, as the seed's `pr-flow` PromotionTask does it,
against the loopback GitHub fake backed by a real bare repository: the promotion waits
Running on durable timers with the PR's URL shown, a reviewer merges (or closes) it, and the
promotion goes on; an abort ends the wait; a rate limit delays it; no token reaches history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from client.api import Gantry
from tests.conftest import WorkerHandle, wait_for
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.github import GitHubFake
from tests.integration.test_no_secrets_in_history import assert_histories_clean, assert_nowhere
from tests.integration.test_promotion_tasks import argocd  # noqa: F401  (fixture)
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pr_pipeline_manifests

pytestmark = pytest.mark.integration

TOKEN = "ghp_test-token-never-in-history"
REPO = "org/deploy"
WAIT = "pr::wait-for-pr"


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = make_gitops_repo(tmp_path / "seed")
    with GitHubFake(tmp_path / "github", token=TOKEN) as fake:
        fake.add_repo(REPO, source.bare)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_PR_URL", fake.base_url + "/")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_PR_USERNAME", "bot")
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_PR_PASSWORD", TOKEN)
        yield fake


def show(fake: GitHubFake, path: str, branch: str = "main") -> str:
    from tests.fakes.gitservice import git

    return git("--git-dir", str(fake.bare(REPO)), "show", f"{branch}:{path}").stdout


async def to_prod(gantry: Gantry, fake: GitHubFake, unique: str, tag: str = "2.0.0", argocd_app: str | None = None):
    """The pipeline applied, Freight promoted to dev, and a promotion to prod started."""
    project = f"pr-{unique}"
    await apply_text(gantry, pr_pipeline_manifests(project, fake.repo_url(REPO), "github", argocd_app=argocd_app))
    freight = await gantry.create_freight(
        project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": tag}]}
    )
    dev = await asyncio.wait_for((await gantry.promote(project, "dev", freight["name"])).result(), 60)
    assert dev.phase == "Succeeded", dev
    return project, await gantry.promote(project, "prod", freight["name"])


async def waiting_for_review(gantry: Gantry, workflow_id: str) -> str:
    """Wait until the promotion waits on the PR; the step's message (with the PR's URL)."""

    async def waiting() -> str | None:
        status = await gantry.promotion_status(workflow_id)
        step = next((s for s in status.steps if s.alias == WAIT), None)
        return step.message if step and step.status == "Running" and "/pull/" in step.message else None

    return await wait_for(waiting, timeout=60, message="the promotion to wait for the pull request")


async def test_prod_waits_for_the_review_then_succeeds(
    worker: WorkerHandle, client: Client, temporal_address: str, github: GitHubFake, argocd: FakeArgoCD, unique: str  # noqa: F811
) -> None:
    """...then points Argo CD at the merge commit and is verified once the app is Healthy there."""
    from tests.integration.test_cli import gantry

    seeded = github.head(REPO, "main")
    app = f"prod-{unique}"
    argocd.add_app(app, authorized_stage=f"pr-{unique}:prod", source={"repoURL": github.repo_url(REPO), "path": "env/prod", "targetRevision": "main"})
    project, handle = await to_prod(worker.gantry, github, unique, argocd_app=app)
    message = await waiting_for_review(worker.gantry, handle.id)
    [pr] = github.prs(REPO)
    url = f"{github.web_url(REPO)}/pull/{pr.number}"
    # what an operator sees: the Stage waits for review, the promotion names the PR
    code, out = await gantry(temporal_address, worker, "get", "stage", "prod", "-p", project)
    assert code == 0 and f"now: {WAIT} (git-wait-for-pr): waiting for {url} to be merged (open)" in out, out
    code, out = await gantry(temporal_address, worker, "get", "promotion", handle.id.rsplit("/", 1)[-1], "-p", project)
    assert code == 0 and url in out and "Running" in out, out
    assert pr.state == "open" and pr.target == "main" and pr.source == f"kargo/promotion/{handle.id.rsplit('/', 1)[-1]}"
    assert pr.labels == ["promotion"] and pr.title == "Updated ./src/env/prod to use new image"  # from the commit
    assert url in message
    assert "newTag: 2.0.0" not in show(github, "env/prod/kustomization.yaml"), "nothing reaches main before the merge"

    # the wait is on durable timers whose summaries name the PR
    summaries = []
    async for event in client.get_workflow_handle(handle.id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED and event.user_metadata.HasField("summary"):
            summaries.append(event.user_metadata.summary.data.decode())
    assert any(f"/pull/{pr.number}" in s for s in summaries), summaries

    github.merge(REPO, pr.number, by="reviewer")
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.phase == "Succeeded", status
    merged = github.head(REPO, "main")
    assert status.state[WAIT]["commit"] == merged
    assert argocd.app(app)["spec"]["source"]["targetRevision"] == merged, "Argo CD points at the merge commit"
    assert status.health == "Healthy" and status.verified_at is not None, status
    assert "newTag: 2.0.0" in show(github, "env/prod/kustomization.yaml")
    assert len(github.prs(REPO)) == 1, "one pull request, however often the steps ran"
    from tests.fakes.gitservice import git

    changes = git("--git-dir", str(github.bare(REPO)), "log", "--no-merges", "--format=%s", f"{seeded}..main", "--", "env/prod").stdout.split("\n")
    assert [c for c in changes if c] == ["Updated ./src/env/prod to use new image"], "the promoted change, exactly once"

    await assert_histories_clean(client, client.get_workflow_handle(handle.id), project, TOKEN)


async def test_a_pull_request_closed_unmerged_fails_the_promotion(
    worker: WorkerHandle, github: GitHubFake, unique: str
) -> None:
    project, handle = await to_prod(worker.gantry, github, unique)
    await waiting_for_review(worker.gantry, handle.id)
    [pr] = github.prs(REPO)
    github.close(REPO, pr.number, by="alice")
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.phase == "Failed", status
    step = next(s for s in status.steps if s.alias == WAIT)
    assert step.status == "Failed"
    assert f"/pull/{pr.number}" in step.message and "closed by alice without being merged" in step.message
    assert "newTag: 2.0.0" not in show(github, "env/prod/kustomization.yaml")


async def test_abort_ends_the_wait(worker: WorkerHandle, client: Client, github: GitHubFake, unique: str) -> None:
    project, handle = await to_prod(worker.gantry, github, unique)
    await waiting_for_review(worker.gantry, handle.id)
    await worker.gantry.abort_promotion(handle.id, "not today")
    status = await asyncio.wait_for(handle.result(), 30)
    assert status.phase == "Aborted", status
    assert (await client.get_workflow_handle(handle.id).describe()).status == WorkflowExecutionStatus.CANCELED


async def test_a_rate_limited_provider_delays_the_wait_but_does_not_fail_it(
    worker: WorkerHandle, github: GitHubFake, unique: str
) -> None:
    project, handle = await to_prod(worker.gantry, github, unique)
    await waiting_for_review(worker.gantry, handle.id)
    github.rate_limit_wait = 3  # the reset the headers name: the wait honours it
    github.rate_limit(3)

    async def limited() -> bool:
        status = await worker.gantry.promotion_status(handle.id)
        step = next(s for s in status.steps if s.alias == WAIT)
        return "rate limited" in step.message

    await wait_for(limited, timeout=30, message="the wait to report the rate limit")
    [pr] = github.prs(REPO)
    github.merge(REPO, pr.number)
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.phase == "Succeeded", status
    step = next(s for s in status.steps if s.alias == WAIT)
    assert step.error_count == 0, "a rate limit is not an error"


async def test_a_wait_survives_worker_sigkill_and_server_restart_without_a_second_pr(
    tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait's worker (a process) is SIGKILLed and the dev server restarted on its SQLite
    file while the promotion waits for review; it resumes and opens no second PR."""
    from client.devserver import ensure_search_attributes, free_port
    from tests.integration.test_soak_restarts import (
        OwnServer,
        Setup,
        connect_when_ready,
        restart_everything,
        start_and_wait_for_worker,
    )
    from tests.workerproc import WorkerPool

    source = make_gitops_repo(tmp_path / "seed")
    own = OwnServer(db_file=tmp_path / "temporal" / "temporal.db", port=free_port(), log_file=tmp_path / "server.log")
    own.start()
    with GitHubFake(tmp_path / "github", token=TOKEN) as fake:
        fake.add_repo(REPO, source.bare)
        env = {
            "GANTRY_GIT_CREDENTIALS_PR_URL": fake.base_url + "/",
            "GANTRY_GIT_CREDENTIALS_PR_USERNAME": "bot",
            "GANTRY_GIT_CREDENTIALS_PR_PASSWORD": TOKEN,
        }
        pool = WorkerPool(own.address, f"gantry-pr-{unique}", tmp_path, env=env)
        setup = Setup(own, pool, source, f"prr-{unique}", f"gantry-pr-{unique}", tmp_path)
        try:
            client = await connect_when_ready(own.address)
            await ensure_search_attributes(client)
            worker = await start_and_wait_for_worker(setup, client)
            gantry = Gantry(client, setup.task_queue)
            project, handle = await to_prod(gantry, fake, unique)
            await waiting_for_review(gantry, handle.id)
            assert len(fake.prs(REPO)) == 1

            client, _ = await restart_everything(setup, worker)
            gantry = Gantry(client, setup.task_queue)
            await waiting_for_review(gantry, handle.id)  # polling again under the new worker
            [pr] = fake.prs(REPO)
            fake.merge(REPO, pr.number)
            status = await asyncio.wait_for(gantry.promotion_result(handle.id), 90)
            assert status.phase == "Succeeded", f"{status}{setup.diagnostics()}"
            assert len(fake.prs(REPO)) == 1, "a second pull request was opened"
            assert "newTag: 2.0.0" in show(fake, "env/prod/kustomization.yaml")
            await assert_histories_clean(client, client.get_workflow_handle(handle.id), project, TOKEN)
            assert_nowhere(TOKEN, "the worker's log", pool.log_tail(10**7))
        finally:
            pool.stop_all()
            own.stop()
