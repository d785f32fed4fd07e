"""copy, delete, file-write, git-clear and git-tag on real files and real git checkouts."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.base import MARKER, STEP_FAILED, WORKDIR_LOST, workdir  # noqa: E402
from activities.steps.file_copy import IgnoreRules, copy  # noqa: E402
from activities.steps.file_delete import delete  # noqa: E402
from activities.steps.file_write import file_write  # noqa: E402
from activities.steps.git_clear import git_clear  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import git_push  # noqa: E402
from activities.steps.git_tag import git_tag  # noqa: E402
from tests.gitrepos import Remote, git, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()


async def run(fn, promotion: str, uses: str, config: dict):
    return await env.run(fn, step(promotion, uses, config))


async def fails(fn, promotion: str, uses: str, config: dict, field: str) -> str:
    with pytest.raises(ApplicationError) as e:
        await run(fn, promotion, uses, config)
    assert e.value.type == STEP_FAILED and e.value.non_retryable, str(e.value)
    assert field in str(e.value), str(e.value)
    return str(e.value)


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in filenames:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = "->" + os.readlink(p) if p.is_symlink() else p.read_text()
    return out


@pytest.fixture
async def src(promo: str, remote: Remote) -> Path:
    cfg = {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}]}
    await env.run(git_clone, step(promo, "git-clone", cfg))
    return workdir(promo) / "src"


# ---------------------------------------------------------------- file-write


async def test_file_write_creates_parents_and_is_idempotent(promo: str) -> None:
    cfg = {"path": "./out/deep/app.yaml", "contents": "a: 1\n"}
    res = await run(file_write, promo, "file-write", cfg)
    f = workdir(promo) / "out/deep/app.yaml"
    assert res.status == "Succeeded" and f.read_text() == "a: 1\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    again = await run(file_write, promo, "file-write", cfg)  # a retry: same contents, no overwrite needed
    assert again.status == "Succeeded" and f.read_text() == "a: 1\n"
    await fails(file_write, promo, "file-write", {**cfg, "contents": "a: 2\n"}, "overwrite")
    await run(file_write, promo, "file-write", {**cfg, "contents": "a: 2\n", "overwrite": True, "permissions": "0644"})
    assert f.read_text() == "a: 2\n" and stat.S_IMODE(f.stat().st_mode) == 0o644
    await run(file_write, promo, "file-write", {"path": "empty.txt", "contents": ""})
    assert (workdir(promo) / "empty.txt").read_text() == ""


async def test_file_write_failures(promo: str, tmp_path: Path) -> None:
    (workdir(promo) / "d").mkdir()
    os.symlink(tmp_path, workdir(promo) / "outside")
    os.symlink(workdir(promo) / "d", workdir(promo) / "inside")
    cases = [
        ({"contents": "x"}, "path"),
        ({"path": "a.txt"}, "contents"),
        ({"path": "a.txt", "contents": 5}, "contents"),
        ({"path": "../a.txt", "contents": "x"}, "path"),
        ({"path": "/etc/a.txt", "contents": "x"}, "path"),
        ({"path": "src/.git/config", "contents": "x"}, ".git"),
        ({"path": "outside/a.txt", "contents": "x"}, "path"),
        ({"path": "inside/a.txt", "contents": "x"}, "symbolic link"),
        ({"path": "d", "contents": "x", "overwrite": True}, "directory"),
        ({"path": "a.txt", "contents": "x", "permissions": "0755"}, "permissions"),
        ({"path": "a.txt", "contents": "x", "permissions": "0666"}, "permissions"),
        ({"path": "a.txt", "contents": "x", "permissions": "644"}, "permissions"),
        ({"path": "a.txt", "contents": "x", "overwrite": "maybe"}, "overwrite"),
    ]
    for cfg, field in cases:
        await fails(file_write, promo, "file-write", cfg, field)
    assert not (tmp_path / "a.txt").exists() and not (workdir(promo) / "a.txt").exists()


async def test_steps_need_the_promotion_workdir(work_root: Path) -> None:
    with pytest.raises(ApplicationError) as e:
        await run(file_write, "never-prepared", "file-write", {"path": "a", "contents": ""})
    assert e.value.type == WORKDIR_LOST


# ---------------------------------------------------------------- copy


def test_ignore_rules() -> None:
    rules = IgnoreRules("# comment\n*.tmp\n/top.txt\nbuild/\n!keep.tmp\ndocs/**/draft.md\n")
    assert rules.ignored(".git", True) and rules.ignored("sub/.git", True)
    assert rules.ignored("a.tmp", False) and rules.ignored("x/y/b.tmp", False)
    assert not rules.ignored("keep.tmp", False)
    assert rules.ignored("top.txt", False) and not rules.ignored("x/top.txt", False)
    assert rules.ignored("build", True) and rules.ignored("x/build", True) and not rules.ignored("build", False)
    assert rules.ignored("docs/draft.md", False) and rules.ignored("docs/a/b/draft.md", False)
    assert not rules.ignored("docs/a/final.md", False)


async def test_copy_directory_with_ignore_and_symlinks(promo: str, src: Path, tmp_path: Path) -> None:
    (src / "environments/uat/tmp.tmp").write_text("scratch")
    (tmp_path / "secret").write_text("outside")
    os.symlink(tmp_path / "secret", src / "environments/uat/link")
    out = workdir(promo) / "out"
    out.mkdir()
    (out / "existing.txt").write_text("kept")
    cfg = {"inPath": "./src", "outPath": "./out", "ignore": "*.tmp\ncharts/\n"}
    await run(copy, promo, "copy", cfg)
    got = tree(out)
    assert got == {
        "existing.txt": "kept",
        "environments/uat/kustomization.yaml": (src / "environments/uat/kustomization.yaml").read_text(),
        "base/README.md": "base v2\n",
    }
    assert not (out / ".git").exists()
    await run(copy, promo, "copy", cfg)  # again: same result
    assert tree(out) == got


async def test_copy_file_and_failures(promo: str, src: Path) -> None:
    await run(copy, promo, "copy", {"inPath": "./src/base/README.md", "outPath": "./new/dir/README.md"})
    assert (workdir(promo) / "new/dir/README.md").read_text() == "base v2\n"
    await run(copy, promo, "copy", {"inPath": "./src/base/README.md", "outPath": "./new/dir/README.md"})
    assert (workdir(promo) / "new/dir/README.md").read_text() == "base v2\n"
    cases = [
        ({"outPath": "x"}, "inPath"),
        ({"inPath": "./src"}, "outPath"),
        ({"inPath": "./nope", "outPath": "x"}, "inPath"),
        ({"inPath": "../..", "outPath": "x"}, "inPath"),
        ({"inPath": "./src", "outPath": "../x"}, "outPath"),
        ({"inPath": "./src", "outPath": "./src/inner"}, "outPath"),
        ({"inPath": "./src", "outPath": "./new/dir/README.md"}, "outPath"),
        ({"inPath": "./src/base/README.md", "outPath": "./new"}, "outPath"),
        ({"inPath": "./src", "outPath": "x", "ignore": ["*.tmp"]}, "ignore"),
    ]
    for cfg, field in cases:
        await fails(copy, promo, "copy", cfg, field)


# ---------------------------------------------------------------- delete


async def test_delete_literal_paths(promo: str, src: Path, tmp_path: Path) -> None:
    (tmp_path / "precious").write_text("keep me")
    os.symlink(tmp_path / "precious", src / "link")
    await run(delete, promo, "delete", {"path": "./src/base"})
    assert not (src / "base").exists()
    await run(delete, promo, "delete", {"paths": ["./src/link", "./src/charts/my-app/values.yaml", "./src/gone"]})
    assert not os.path.lexists(src / "link") and (tmp_path / "precious").read_text() == "keep me"
    assert not (src / "charts/my-app/values.yaml").exists()
    # a retry of the same step: nothing left to delete, still succeeds
    await run(delete, promo, "delete", {"paths": ["./src/link", "./src/charts/my-app/values.yaml"]})
    await fails(delete, promo, "delete", {"path": "./src/gone", "strict": True}, "path")
    await fails(delete, promo, "delete", {"paths": ["./src/environments", "./src/gone"], "strict": True}, "paths[1]")
    assert (src / "environments").exists()  # strict checks happen before anything is removed


async def test_delete_globs(promo: str, src: Path) -> None:
    for rel in ("a/x.tmp", "a/b/y.tmp", "a/b/keep.txt", ".hidden.tmp"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("t")
    await run(delete, promo, "delete", {"path": "./src/**/*.tmp", "pathsAreGlobs": True})
    assert tree(src / "a") == {"b/keep.txt": "t"} and not (src / ".hidden.tmp").exists()
    await run(delete, promo, "delete", {"path": "./src/**/*.tmp", "pathsAreGlobs": True})
    await fails(delete, promo, "delete", {"path": "src/**/*.tmp", "pathsAreGlobs": True, "strict": True}, "path")
    await run(delete, promo, "delete", {"paths": ["src/a/*", "src/*/uat"], "pathsAreGlobs": True})
    assert not (src / "a/b").exists() and not (src / "environments/uat").exists()
    assert (workdir(promo) / MARKER).exists()
    await run(delete, promo, "delete", {"path": "*", "pathsAreGlobs": True})
    assert (workdir(promo) / MARKER).exists() and not src.exists()


async def test_delete_failures(promo: str, tmp_path: Path) -> None:
    os.symlink(tmp_path, workdir(promo) / "outside")
    (tmp_path / "f").write_text("x")
    cases = [
        ({}, "path"),
        ({"path": "a", "paths": ["b"]}, "path"),
        ({"paths": "a"}, "paths"),
        ({"paths": [""]}, "paths[0]"),
        ({"path": "../x"}, "path"),
        ({"path": "/etc/passwd"}, "path"),
        ({"path": "outside/f"}, "path"),
        ({"path": "."}, "path"),
        ({"path": MARKER}, "path"),
        ({"path": "/etc/*", "pathsAreGlobs": True}, "path"),
    ]
    for cfg, field in cases:
        await fails(delete, promo, "delete", cfg, field)
    assert (tmp_path / "f").exists() and (workdir(promo) / MARKER).exists()


# ---------------------------------------------------------------- git-clear


async def test_git_clear_then_commit_and_push(promo: str, src: Path, remote: Remote) -> None:
    (src / ".gitignore").write_text("*.log\n")
    (src / "debug.log").write_text("ignored")
    (src / "untracked.txt").write_text("new")
    await run(git_clear, promo, "git-clear", {"path": "./src"})
    assert sorted(os.listdir(src)) == [".git"]
    assert git("status", "--porcelain", cwd=src).splitlines()  # removals are staged
    await run(git_clear, promo, "git-clear", {"path": "./src"})  # again: nothing to do
    assert sorted(os.listdir(src)) == [".git"]
    (src / "manifests.yaml").write_text("kind: ConfigMap\n")
    await run(git_commit, promo, "git-commit", {"path": "./src", "message": "rendered"})
    await run(git_push, promo, "git-push", {"path": "./src"})
    assert git("ls-tree", "--name-only", "main", cwd=remote.bare).splitlines() == ["manifests.yaml"]


async def test_git_clear_failures(promo: str, src: Path) -> None:
    (workdir(promo) / "plain").mkdir()
    await fails(git_clear, promo, "git-clear", {}, "path")
    await fails(git_clear, promo, "git-clear", {"path": "./missing"}, "path")
    await fails(git_clear, promo, "git-clear", {"path": "./plain"}, "path")
    await fails(git_clear, promo, "git-clear", {"path": "../.."}, "path")
    assert (src / "base/README.md").exists()


# ---------------------------------------------------------------- git-tag


async def test_git_tag_idempotent_force_and_push(promo: str, src: Path, remote: Remote) -> None:
    cfg = {"path": "./src", "tag": "v2.0.0", "message": "Release 2.0.0"}
    res = await run(git_tag, promo, "git-tag", cfg)
    head = git("rev-parse", "HEAD", cwd=src)
    assert res.outputs == {"commit": head}
    assert git("cat-file", "-t", "v2.0.0", cwd=src) == "tag"  # annotated
    assert git("tag", "-l", "--format=%(contents:subject)", "v2.0.0", cwd=src) == "Release 2.0.0"
    again = await run(git_tag, promo, "git-tag", cfg)
    assert again.outputs == {"commit": head}
    await run(git_push, promo, "git-push", {"path": "./src", "tag": "v2.0.0"})
    assert remote.sha("v2.0.0^{commit}") == head
    # a tag that exists elsewhere fails, unless forced
    (src / "base/README.md").write_text("v3\n")
    await run(git_commit, promo, "git-commit", {"path": "./src", "message": "next"})
    await fails(git_tag, promo, "git-tag", cfg, "force")
    res = await run(git_tag, promo, "git-tag", {**cfg, "force": True})
    assert res.outputs["commit"] == git("rev-parse", "HEAD", cwd=src) != head
    assert git("rev-parse", "v2.0.0^{commit}", cwd=src) == res.outputs["commit"]


async def test_git_tag_failures(promo: str, src: Path) -> None:
    cases = [
        ({"tag": "v1", "message": "m"}, "path"),
        ({"path": "./src", "message": "m"}, "tag"),
        ({"path": "./src", "tag": "v9"}, "message"),
        ({"path": "./src", "tag": "bad tag..", "message": "m"}, "tag"),
        ({"path": "./nowhere", "tag": "v9", "message": "m"}, "path"),
        ({"path": "./src", "tag": "v1", "message": "m"}, "tag"),  # v1 exists at another commit
    ]
    for cfg, field in cases:
        await fails(git_tag, promo, "git-tag", cfg, field)
