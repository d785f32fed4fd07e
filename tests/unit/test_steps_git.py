"""git-clone, git-commit and git-push against real local bare repositories."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.base import STEP_FAILED, WORKDIR_LOST, StepRef, workdir  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import generated_branch, git_push  # noqa: E402
from activities.steps.kustomize_set_image import kustomize_set_image  # noqa: E402
from tests.gitrepos import Remote, git, new_promotion, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()
FREIGHT = [{"name": "f1", "images": [{"repoURL": "my-registry/my-app", "tag": "1.2.3", "digest": "sha256:aa"}]}]


async def clone(p: str, r: Remote, checkout: list[dict], **cfg) -> dict:
    res = await env.run(git_clone, step(p, "git-clone", {"repoURL": r.url, "checkout": checkout, **cfg}))
    assert res.status == "Succeeded"
    return res.outputs["commits"]


async def test_clone_branch_tag_commit_and_default(promo: str, remote: Remote) -> None:
    first = remote.sha("main~1")
    commits = await clone(
        promo,
        remote,
        [
            {"branch": "main", "path": "./src"},
            {"tag": "v1", "path": "./tagged", "as": "release"},
            {"commit": first, "path": "./pinned"},
            {"path": "./default"},
            {"branch": "dev", "path": "./dev"},
        ],
    )
    assert commits == {
        "./src": remote.sha("main"),
        "release": remote.sha("v1^{commit}"),
        "./pinned": first,
        "./default": remote.sha("main"),
        "./dev": remote.sha("dev"),
    }
    src = workdir(promo) / "src"
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=src) == "main"
    assert git("rev-parse", "--abbrev-ref", "@{upstream}", cwd=src) == "origin/main"
    assert (src / "environments/uat/kustomization.yaml").is_file()
    assert (workdir(promo) / "tagged/base/README.md").read_text() == "base\n"
    assert git("status", "--porcelain", cwd=workdir(promo) / "pinned") == ""


async def test_clone_create_branch_pushes_orphan(promo: str, remote: Remote) -> None:
    commits = await clone(promo, remote, [{"branch": "stage/uat", "create": True, "path": "./out"}])
    assert commits["./out"] == remote.sha("stage/uat")
    assert remote.log("stage/uat") == ["Initial commit"]
    assert [p.name for p in (workdir(promo) / "out").iterdir()] == [".git"]
    # a second promotion finds it existing and checks it out unchanged
    p2 = new_promotion()
    assert (await clone(p2, remote, [{"branch": "stage/uat", "create": True, "path": "./out"}])) == commits


async def test_clone_missing_branch_without_create_fails(promo: str, remote: Remote) -> None:
    with pytest.raises(ApplicationError) as e:
        await clone(promo, remote, [{"branch": "nope", "path": "./src"}])
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    assert "checkout[0].branch" in str(e.value) and "create" in str(e.value)


async def test_clone_bad_config_names_field(promo: str, remote: Remote) -> None:
    for cfg, field in [
        ({"checkout": [{"path": "./src"}]}, "repoURL"),
        ({"repoURL": remote.url}, "checkout"),
        ({"repoURL": remote.url, "checkout": [{"path": "../escape"}]}, "checkout[0].path"),
        ({"repoURL": remote.url, "checkout": [{"path": "./a", "tag": "v1", "branch": "main"}]}, "checkout[0]"),
        ({"repoURL": remote.url, "checkout": [{"path": "./a", "tag": "nope"}]}, "checkout[0].tag"),
        ({"repoURL": remote.url, "checkout": [{"path": "./a", "commit": "0" * 40}]}, "checkout[0].commit"),
    ]:
        with pytest.raises(ApplicationError) as e:
            await env.run(git_clone, step(promo, "git-clone", cfg))
        assert e.value.type == STEP_FAILED, cfg
        assert field in str(e.value), (cfg, str(e.value))


async def test_clone_missing_repository_is_terminal(promo: str, remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as e:
        await env.run(
            git_clone,
            step(promo, "git-clone", {"repoURL": (tmp_path / "none.git").as_uri(), "checkout": [{"path": "./s"}]}),
        )
    assert e.value.type == STEP_FAILED and "repoURL" in str(e.value)


async def test_clone_retry_replaces_previous_and_half_made_checkouts(promo: str, remote: Remote) -> None:
    first = await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    src = workdir(promo) / "src"
    (src / "base/README.md").write_text("edited by a crashed attempt\n")
    (src / "stray.txt").write_text("junk")
    git("commit", "-qam", "local commit never pushed", cwd=src)
    (workdir(promo) / ".src.gantry-clone").mkdir()  # half-made clone from a crash
    (workdir(promo) / ".src.gantry-clone" / "partial").write_text("x")
    again = await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    assert again == first
    assert not (src / "stray.txt").exists()
    assert (src / "base/README.md").read_text() == "base v2\n"
    assert git("status", "--porcelain", cwd=src) == ""
    assert not (workdir(promo) / ".src.gantry-clone").exists()


async def test_missing_workdir_is_workdir_lost(work_root: Path, remote: Remote) -> None:
    for fn, cfg in [
        (git_clone, {"repoURL": remote.url, "checkout": [{"path": "./src"}]}),
        (git_commit, {"path": "./src", "message": "m"}),
        (git_push, {"path": "./src"}),
    ]:
        with pytest.raises(ApplicationError) as e:
            await env.run(fn, step("never-prepared", "x", cfg))
        assert e.value.type == WORKDIR_LOST and e.value.non_retryable


def _commit_input(promo: str, config: dict, outputs: dict, steps: list[tuple[str, str]]):
    return step(
        promo,
        "git-commit",
        config,
        alias="commit",
        outputs=outputs,
        steps=[StepRef(alias=a, uses=u) for a, u in steps],
    )


async def test_commit_message_from_steps_by_alias_and_by_uses(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    src = workdir(promo) / "src"
    steps = [("step-1", "git-clone"), ("set-image", "kustomize-set-image"), ("step-3", "yaml-update"), ("commit", "git-commit")]
    outputs = {
        "step-1": {"commits": {}},
        "set-image": {"commitMessage": "Updated ./src to use new image\n\n- a:1"},
        "step-3": {"commitMessage": "Updated ./src/values.yaml\n\n- image.tag: 1"},
    }
    (src / "one.txt").write_text("1")
    res = await env.run(git_commit, _commit_input(promo, {"path": "./src", "messageFromSteps": ["set-image"]}, outputs, steps))
    assert res.status == "Succeeded" and res.outputs["commit"] == git("rev-parse", "HEAD", cwd=src)
    assert git("log", "-1", "--format=%B", cwd=src).strip() == outputs["set-image"]["commitMessage"]
    assert git("log", "-1", "--format=%an <%ae>", cwd=src) == "Gantry <gantry@localhost>"

    (src / "two.txt").write_text("2")
    cfg = {"path": "./src", "messageFromSteps": ["kustomize-set-image", "yaml-update"], "author": {"name": "Bot", "email": "bot@x"}}
    res = await env.run(git_commit, _commit_input(promo, cfg, outputs, steps))
    body = git("log", "-1", "--format=%B", cwd=src)
    assert "- a:1" in body and "- image.tag: 1" in body and body.startswith("Gantry applied 2 changes")
    assert git("log", "-1", "--format=%an <%ae>", cwd=src) == "Bot <bot@x>"

    with pytest.raises(ApplicationError) as e:
        await env.run(git_commit, _commit_input(promo, {"path": "./src", "messageFromSteps": ["nope"]}, outputs, steps))
    assert e.value.type == STEP_FAILED and "messageFromSteps[0]" in str(e.value)


async def test_commit_without_changes_commits_nothing(promo: str, remote: Remote, monkeypatch) -> None:
    monkeypatch.setenv("GANTRY_GIT_AUTHOR_NAME", "Env Bot")
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    src = workdir(promo) / "src"
    head = git("rev-parse", "HEAD", cwd=src)
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "nothing"}))
    assert (res.status, res.message, res.outputs) == ("Succeeded", "nothing to commit", {"commit": head})
    (src / "new.txt").write_text("n")
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "add new"}))
    assert res.outputs["commit"] != head
    assert git("log", "-1", "--format=%an", cwd=src) == "Env Bot"
    # a retry of the same step after it committed: no second commit
    again = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "add new"}))
    assert again.outputs["commit"] == res.outputs["commit"] and again.message == "nothing to commit"


async def test_commit_config_errors(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    for cfg, field in [
        ({"message": "m"}, "path"),
        ({"path": "./src"}, "message"),
        ({"path": "./missing", "message": "m"}, "path"),
        ({"path": ".", "message": "m"}, "path"),
    ]:
        with pytest.raises(ApplicationError) as e:
            await env.run(git_commit, step(promo, "git-commit", cfg))
        assert e.value.type == STEP_FAILED and field in str(e.value), cfg


async def _edit_commit(promo: str, name: str, content: str, message: str) -> str:
    (workdir(promo) / "src" / name).write_text(content)
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": message}))
    return res.outputs["commit"]


async def test_push_then_identical_push_is_noop(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    before = remote.count()
    sha = await _edit_commit(promo, "a.txt", "a", "add a")
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert res.outputs == {"branch": "main", "commit": sha, "commitURL": ""}
    again = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert again.outputs == res.outputs
    assert remote.count() == before + 1 and remote.sha() == sha


async def test_push_after_someone_else_pushed_rebases(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    await _edit_commit(promo, "ours.txt", "ours", "our change")
    theirs = remote.push_change("theirs.txt", "theirs", "their change")
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert remote.sha() == res.outputs["commit"]
    assert remote.log()[:2] == ["our change", "their change"]
    assert git("merge-base", "--is-ancestor", theirs, "main", cwd=remote.bare) == ""
    assert remote.show("theirs.txt") == "theirs" and remote.show("ours.txt") == "ours"


async def test_push_retry_when_remote_already_moved_past_our_commit(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    sha = await _edit_commit(promo, "ours.txt", "ours", "our change")
    await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    remote.push_change("later.txt", "later", "someone else, later")
    count = remote.count()
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))  # retried step
    assert res.outputs["commit"] == sha and remote.count() == count


async def test_push_rebase_conflict_is_terminal(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    await _edit_commit(promo, "base/README.md", "ours\n", "our change")
    remote.push_change("base/README.md", "theirs\n", "their change")
    with pytest.raises(ApplicationError) as e:
        await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert e.value.type == STEP_FAILED and "conflict" in str(e.value)


async def test_a_refused_push_fails_with_the_remotes_words_and_is_sent_once(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"branch": "main", "path": "./src"}])
    await _edit_commit(promo, "a.txt", "a", "add a")
    calls = remote.tmp / "hook-calls"
    hook = remote.bare / "hooks/pre-receive"
    hook.write_text(f"#!/bin/sh\necho pushed >> '{calls}'\necho 'no pushes on Fridays' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(ApplicationError) as e:
        await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert e.value.type == STEP_FAILED and "no pushes on Fridays" in str(e.value) and "'path'" in str(e.value)
    assert calls.read_text().splitlines() == ["pushed"]  # the error is read from the one push


async def test_push_to_generated_and_target_branches_and_tag(promo: str, remote: Remote) -> None:
    await clone(promo, remote, [{"commit": remote.sha("main"), "path": "./src"}])
    sha = await _edit_commit(promo, "x.txt", "x", "x")
    with pytest.raises(ApplicationError) as e:
        await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert e.value.type == STEP_FAILED and "targetBranch" in str(e.value)
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src", "generateTargetBranch": True}))
    assert res.outputs["branch"] == generated_branch(promo) == f"kargo/promotion/{promo.rsplit('/', 1)[-1]}"
    assert remote.sha(res.outputs["branch"]) == sha
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src", "targetBranch": "release/x"}))
    assert remote.sha("release/x") == sha
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src", "tag": "v9"}))
    assert remote.sha("v9^{commit}") == sha
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src", "tag": "v9"}))  # retry: no-op
    assert res.outputs["commit"] == sha
    with pytest.raises(ApplicationError) as e:
        await env.run(git_push, step(promo, "git-push", {"path": "./src", "tag": "v9", "targetBranch": "b"}))
    assert e.value.type == STEP_FAILED


def test_generated_branch_is_a_valid_ref() -> None:
    name = generated_branch("promotion/my-project/uat/01J..abc:def.lock")
    assert name.startswith("kargo/promotion/01J")  # the promotion's name, as Kargo names the branch
    assert git("check-ref-format", f"refs/heads/{name}") == ""


async def _chain(promo: str, remote: Remote) -> dict:
    outputs: dict[str, dict] = {}
    steps = [("clone", "git-clone"), ("step-2", "kustomize-set-image"), ("step-3", "git-commit"), ("step-4", "git-push")]
    refs = [StepRef(alias=a, uses=u) for a, u in steps]
    configs = [
        {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}]},
        {"path": "./src/environments/uat", "images": [{"image": "my-registry/my-app"}]},
        {"path": "./src", "messageFromSteps": ["kustomize-set-image"]},
        {"path": "./src"},
    ]
    fns = [git_clone, kustomize_set_image, git_commit, git_push]
    for (alias, uses), cfg, fn in zip(steps, configs, fns):
        res = await env.run(
            fn, step(promo, uses, cfg, alias=alias, freight=FREIGHT, outputs=dict(outputs), steps=refs)
        )
        assert res.status == "Succeeded", res
        outputs[alias] = res.outputs
    return outputs


async def test_full_chain_twice_makes_exactly_one_commit(work_root: Path, remote: Remote) -> None:
    before = remote.count()
    first = await _chain(new_promotion(), remote)
    assert remote.count() == before + 1
    assert remote.log()[0] == "Updated ./src/environments/uat to use new image"
    assert "newTag: 1.2.3" in remote.show("environments/uat/kustomization.yaml")
    assert "# pinned by hand" in remote.show("environments/uat/kustomization.yaml")
    # the same promotion again (a retried promotion on another worker): nothing new
    second = await _chain(new_promotion(), remote)
    assert remote.count() == before + 1
    assert second["step-4"]["commit"] == first["step-4"]["commit"] == remote.sha()
    # and re-running the whole chain in the same working directory is also a no-op
    p = new_promotion()
    await _chain(p, remote)
    await _chain(p, remote)
    assert remote.count() == before + 1
