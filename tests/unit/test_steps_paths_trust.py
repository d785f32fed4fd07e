"""A repository's committed content never makes a step read or write outside the
promotion's working directory, nor inside ``.git`` (issue #10, part 3 for files, and the
NUL-byte item of part 8).

Each test plays an attacker with commit rights only: the working directory holds
symbolic links to a folder outside it (``tmp_path / "outside"``), to files outside it, to
``.git``, chains of links, and files named like a step's outputs. Every step is called
as a promotion calls it (``ActivityEnvironment``), and afterwards nothing outside the
working directory may have changed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps import _safe_paths  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.file_copy import copy  # noqa: E402
from activities.steps.file_delete import delete  # noqa: E402
from activities.steps.file_write import file_write  # noqa: E402
from activities.steps.helm_template import helm_template  # noqa: E402
from activities.steps.helm_update_chart import helm_update_chart  # noqa: E402
from activities.steps.http_download import http_download  # noqa: E402
from activities.steps.json_parse import json_parse  # noqa: E402
from activities.steps.json_update import json_update  # noqa: E402
from activities.steps.kustomize_build import kustomize_build  # noqa: E402
from activities.steps.tar import tar  # noqa: E402
from activities.steps.toml_parse import toml_parse  # noqa: E402
from activities.steps.toml_update import toml_update  # noqa: E402
from activities.steps.untar import untar  # noqa: E402
from activities.steps.yaml_merge import yaml_merge  # noqa: E402
from activities.steps.yaml_parse import yaml_parse  # noqa: E402
from activities.steps.yaml_update import yaml_update  # noqa: E402
from tests.gitrepos import promo, step, work_root  # noqa: E402,F401
from tests.unit.test_steps_http import Reply, Server, server  # noqa: E402,F401

env = ActivityEnvironment()
needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="neither kustomize nor kubectl is on PATH"
)


async def run(fn, promotion: str, uses: str, config: dict):
    return await env.run(fn, step(promotion, uses, config))


async def refused(fn, promotion: str, uses: str, config: dict, *words: str) -> str:
    """The step fails at once (terminal, not retried) with a message holding ``words``."""
    with pytest.raises(ApplicationError) as e:
        await run(fn, promotion, uses, config)
    assert e.value.type == STEP_FAILED and e.value.non_retryable, str(e.value)
    for word in words:
        assert word.lower() in str(e.value).lower(), str(e.value)
    assert "Traceback" not in str(e.value)
    return str(e.value)


def snapshot(root: Path) -> dict[str, str]:
    """Every file, link and directory below ``root`` with its content or target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "<dir>"
            else:
                out[rel] = p.read_text()
    return out


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the working directory, with a file in it the attacker wants to
    overwrite or read."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("worker secret\n")
    (d / "values.yaml").write_text("image:\n  tag: outside\n")
    (d / "values.json").write_text('{"image": {"tag": "outside"}}\n')
    return d


@pytest.fixture
def repo(promo: str, outside: Path) -> Path:
    """A checkout as git-clone leaves it (a ``.git`` directory included), holding the
    attacker's committed links."""
    r = workdir(promo) / "repo"
    (r / ".git/hooks").mkdir(parents=True)
    (r / ".git/config").write_text("[core]\n\tbare = false\n")
    (r / "app/sub").mkdir(parents=True)
    (r / "app/sub/file.txt").write_text("payload\n")
    (r / "app/values.yaml").write_text("image:\n  tag: v1\n")
    (r / "out").mkdir()
    os.symlink(outside, r / "out-link")  # a folder outside
    os.symlink(outside, r / "out" / "sub")  # inside the destination of a copy
    os.symlink(outside / "secret.txt", r / "secret-link")  # a file outside
    os.symlink(outside / "values.yaml", r / "values-link.yaml")
    os.symlink(outside / "values.json", r / "values-link.json")
    os.symlink("../..", r / "up")  # relative, climbing out
    os.symlink("up", r / "chain")  # a chain ending outside
    os.symlink(".git/config", r / "cfg")  # into .git
    os.symlink(".git", r / "gitdir")
    os.symlink("/etc/hostname", r / "hostname")
    return r


# ---------------------------------------------------------------- copy


async def test_copy_of_a_directory_into_a_folder_holding_a_link_out_writes_nothing_outside(
    promo: str, repo: Path, outside: Path
) -> None:
    before = snapshot(outside)
    msg = await refused(copy, promo, "copy", {"inPath": "./repo/app", "outPath": "./repo/out"}, "outPath", "symbolic link")
    assert "repo/out/sub" in msg
    assert snapshot(outside) == before and not (outside / "file.txt").exists()
    # outPath itself through a committed link to a folder outside
    await refused(copy, promo, "copy", {"inPath": "./repo/app", "outPath": "./repo/out-link/app"}, "outPath", "outside")
    await refused(copy, promo, "copy", {"inPath": "./repo/app/values.yaml", "outPath": "./repo/out-link/v.yaml"}, "outside")
    assert snapshot(outside) == before


async def test_copy_never_writes_into_git(promo: str, repo: Path) -> None:
    config_before = (repo / ".git/config").read_text()
    for out in ("./repo/.git/config", "./repo/.GIT/hooks/x", "./repo/cfg", "./repo/gitdir/hooks/pre-commit", "repo/app/../.Git/config"):
        await refused(copy, promo, "copy", {"inPath": "./repo/app/values.yaml", "outPath": out}, "outPath", ".git")
    # a directory copy never carries a .git (any case) along
    (repo / "app/.GIT").mkdir()
    (repo / "app/.GIT/config").write_text("[core]\n\tfsmonitor = touch /tmp/pwned\n")
    await run(copy, promo, "copy", {"inPath": "./repo/app", "outPath": "./copied"})
    assert (workdir(promo) / "copied/values.yaml").exists() and not (workdir(promo) / "copied/.GIT").exists()
    assert (repo / ".git/config").read_text() == config_before and sorted(os.listdir(repo / ".git/hooks")) == []


async def test_copy_of_a_link_to_a_host_file_is_refused(promo: str, repo: Path) -> None:
    await refused(copy, promo, "copy", {"inPath": "./repo/hostname", "outPath": "./stolen"}, "inPath", "outside")
    await refused(copy, promo, "copy", {"inPath": "./repo/secret-link", "outPath": "./stolen"}, "inPath", "outside")
    await refused(copy, promo, "copy", {"inPath": "./repo/chain/x", "outPath": "./stolen"}, "inPath", "outside")
    assert not os.path.lexists(workdir(promo) / "stolen")
    # links inside a copied directory are skipped, not copied as their content
    os.symlink("/etc/hostname", repo / "app/host")
    await run(copy, promo, "copy", {"inPath": "./repo/app", "outPath": "./copied"})
    assert not os.path.lexists(workdir(promo) / "copied/host")


async def test_copy_follows_links_that_stay_inside(promo: str, repo: Path) -> None:
    os.symlink("app", repo / "app-link")
    os.symlink(str(repo / "app/values.yaml"), repo / "abs-inside.yaml")  # absolute, but inside
    await run(copy, promo, "copy", {"inPath": "./repo/app-link/values.yaml", "outPath": "./a.yaml"})
    await run(copy, promo, "copy", {"inPath": "./repo/abs-inside.yaml", "outPath": "./b.yaml"})
    assert (workdir(promo) / "a.yaml").read_text() == (workdir(promo) / "b.yaml").read_text() == "image:\n  tag: v1\n"


# ---------------------------------------------------------------- file-write


async def test_file_write_through_links_writes_nothing_outside(promo: str, repo: Path, outside: Path) -> None:
    before = snapshot(outside)
    await refused(file_write, promo, "file-write", {"path": "./repo/out-link/new.txt", "contents": "x"}, "path")
    await refused(file_write, promo, "file-write", {"path": "./repo/secret-link", "contents": "x", "overwrite": True}, "path")
    await refused(file_write, promo, "file-write", {"path": "./repo/up/escaped.txt", "contents": "x"}, "path")
    await refused(file_write, promo, "file-write", {"path": "./repo/chain/escaped.txt", "contents": "x"}, "path")
    assert snapshot(outside) == before
    assert not list(outside.parent.glob("escaped.txt")) and not list(outside.parent.parent.glob("escaped.txt"))


async def test_file_write_into_git_is_refused(promo: str, repo: Path) -> None:
    before = snapshot(repo / ".git")
    for path in ("./repo/.git/config", "repo/.GIT/hooks/x", "./repo/cfg", "./repo/gitdir/hooks/pre-commit", "repo\\.git\\config"):
        await refused(file_write, promo, "file-write", {"path": path, "contents": "x", "overwrite": True}, "path")
    assert snapshot(repo / ".git") == before and (repo / "cfg").is_symlink()


# ---------------------------------------------------------------- yaml / json


async def test_yaml_and_json_updates_of_links_out_are_refused(promo: str, repo: Path, outside: Path) -> None:
    before = snapshot(outside)
    await refused(
        yaml_update, promo, "yaml-update",
        {"path": "./repo/values-link.yaml", "updates": [{"key": "image.tag", "value": "pwned"}]}, "path", "outside",
    )  # fmt: skip
    await refused(
        json_update, promo, "json-update",
        {"path": "./repo/values-link.json", "updates": [{"key": "image.tag", "value": "pwned"}]}, "path", "outside",
    )  # fmt: skip
    await refused(
        yaml_merge, promo, "yaml-merge", {"inFiles": ["./repo/app/values.yaml"], "outFile": "./repo/values-link.yaml"},
        "outFile", "outside",
    )  # fmt: skip
    await refused(
        yaml_merge, promo, "yaml-merge", {"inFiles": ["./repo/values-link.yaml"], "outFile": "./merged.yaml"},
        "inFiles[0]", "outside",
    )  # fmt: skip
    assert snapshot(outside) == before and not (workdir(promo) / "merged.yaml").exists()


async def test_yaml_update_replaces_the_file_and_keeps_its_mode(promo: str, repo: Path) -> None:
    target = repo / "app/values.yaml"
    target.chmod(0o640)
    await run(yaml_update, promo, "yaml-update", {"path": "./repo/app/values.yaml", "updates": [{"key": "image.tag", "value": "v2"}]})
    assert target.read_text() == "image:\n  tag: v2\n" and (target.stat().st_mode & 0o777) == 0o640
    assert sorted(os.listdir(target.parent)) == ["sub", "values.yaml"]  # no temporary file left


async def test_parse_steps_do_not_read_outside(promo: str, repo: Path) -> None:
    outputs = [{"name": "tag", "fromExpression": "image.tag"}]
    await refused(yaml_parse, promo, "yaml-parse", {"path": "./repo/values-link.yaml", "outputs": outputs}, "path", "outside")
    await refused(json_parse, promo, "json-parse", {"path": "./repo/values-link.json", "outputs": outputs}, "path", "outside")
    await refused(yaml_parse, promo, "yaml-parse", {"path": "./repo/hostname", "outputs": outputs}, "path", "outside")
    await refused(yaml_parse, promo, "yaml-parse", {"path": "./repo/cfg", "outputs": outputs}, "path", ".git")
    res = await run(yaml_parse, promo, "yaml-parse", {"path": "./repo/app/values.yaml", "outputs": outputs})
    assert res.outputs == {"tag": "v1"}


# ---------------------------------------------------------------- kustomize-build / helm-template

KUSTOMIZATION = {
    "kustomization.yaml": "resources:\n- cm.yaml\n",
    "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: b\n",
}


def _kustomization(repo: Path) -> None:
    (repo / "k").mkdir()
    for name, text in KUSTOMIZATION.items():
        (repo / "k" / name).write_text(text)


@needs_kustomize
async def test_kustomize_build_output_through_a_committed_link_changes_nothing_outside(
    promo: str, repo: Path, outside: Path
) -> None:
    _kustomization(repo)
    os.symlink(outside / "secret.txt", repo / "rendered.yaml")  # a file named like the output
    before = snapshot(outside)
    await refused(kustomize_build, promo, "kustomize-build", {"path": "./repo/k", "outPath": "./repo/rendered.yaml"}, "outPath", "outside")
    await refused(kustomize_build, promo, "kustomize-build", {"path": "./repo/k", "outPath": "./repo/out-link/all.yaml"}, "outPath", "outside")
    await refused(kustomize_build, promo, "kustomize-build", {"path": "./repo/k", "outPath": "./repo/out-link"}, "outPath", "outside")
    await refused(kustomize_build, promo, "kustomize-build", {"path": "./repo/k", "outPath": "./repo/gitdir/x.yaml"}, "outPath", ".git")
    # a committed link named like one of the per-resource files is replaced, not written through
    (repo / "dir").mkdir()
    os.symlink(outside / "secret.txt", repo / "dir/configmap-app.yaml")
    await run(kustomize_build, promo, "kustomize-build", {"path": "./repo/k", "outPath": "./repo/dir"})
    assert snapshot(outside) == before
    assert not (repo / "dir/configmap-app.yaml").is_symlink() and "kind: ConfigMap" in (repo / "dir/configmap-app.yaml").read_text()


def _chart(repo: Path) -> Path:
    chart = repo / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n")
    (chart / "templates/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n")
    return chart


async def test_helm_template_output_and_chart_never_leave_the_working_directory(
    promo: str, repo: Path, outside: Path
) -> None:
    """The refusals come before helm runs, so they hold (and are tested) without helm."""
    chart = _chart(repo)
    os.symlink(outside / "secret.txt", repo / "rendered.yaml")
    before = snapshot(outside)
    base = {"path": "./repo/chart", "releaseName": "app"}
    await refused(helm_template, promo, "helm-template", {**base, "outPath": "./repo/rendered.yaml"}, "outPath", "outside")
    await refused(helm_template, promo, "helm-template", {**base, "outPath": "./repo/out-link/r.yaml"}, "outPath", "outside")
    await refused(helm_template, promo, "helm-template", {**base, "outPath": "./repo/.git/r.yaml"}, "outPath", ".git")
    await refused(helm_template, promo, "helm-template", {**base, "path": "./repo/out-link", "outPath": "./r.yaml"}, "path", "outside")
    # a chart whose template is a link to a host file is not handed to helm
    os.symlink("/etc/hostname", chart / "templates/host.yaml")
    await refused(helm_template, promo, "helm-template", {**base, "outPath": "./r.yaml"}, "path", "templates/host.yaml")
    assert snapshot(outside) == before and not (workdir(promo) / "r.yaml").exists()


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not on PATH: helm-template cannot render")
async def test_helm_template_replaces_a_link_named_like_an_output(promo: str, repo: Path, outside: Path) -> None:
    _chart(repo)
    (repo / "flat").mkdir()
    os.symlink(outside / "secret.txt", repo / "flat/configmap-app.yaml")
    before = snapshot(outside)
    await run(helm_template, promo, "helm-template", {"path": "./repo/chart", "releaseName": "app", "outPath": "./repo/flat", "outLayout": "flat"})
    assert snapshot(outside) == before and not (repo / "flat/configmap-app.yaml").is_symlink()


# ---------------------------------------------------------------- helm-update-chart


async def test_helm_update_chart_never_writes_through_a_linked_charts_folder(promo: str, repo: Path, outside: Path) -> None:
    chart = _chart(repo)
    sub = repo / "sub"
    sub.mkdir()
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://../sub\n"
    )
    os.symlink(outside, chart / "charts")
    before = snapshot(outside)
    await refused(helm_update_chart, promo, "helm-update-chart", {"path": "./repo/chart"}, "charts", "symbolic link")
    os.unlink(chart / "charts")
    (chart / "charts").mkdir()
    os.symlink(outside / "secret.txt", chart / "charts/sub-0.1.0.tgz")  # named like the archive
    await refused(helm_update_chart, promo, "helm-update-chart", {"path": "./repo/chart"}, "path", "outside")
    os.unlink(chart / "charts/sub-0.1.0.tgz")
    os.symlink(outside / "secret.txt", sub / "notes.txt")  # the file:// chart is packaged: no link out
    await refused(helm_update_chart, promo, "helm-update-chart", {"path": "./repo/chart"}, "outside")
    os.unlink(sub / "notes.txt")
    await run(helm_update_chart, promo, "helm-update-chart", {"path": "./repo/chart"})
    assert (chart / "charts/sub-0.1.0.tgz").is_file() and (chart / "Chart.lock").is_file()
    assert snapshot(outside) == before


# ---------------------------------------------------------------- http-download


async def test_http_download_to_a_linked_out_path_writes_nothing_outside(
    server: Server, promo: str, repo: Path, outside: Path
) -> None:
    server.routes["/payload"] = Reply(200, b"downloaded")
    before = snapshot(outside)
    url = server.url + "/payload"
    for out in ("./repo/secret-link", "./repo/out-link/new.bin", "./repo/chain/new.bin"):
        await refused(http_download, promo, "http-download", {"url": url, "outPath": out, "allowOverwrite": True}, "outPath")
    await refused(http_download, promo, "http-download", {"url": url, "outPath": "./repo/.git/hooks/post-commit"}, "outPath", ".git")
    assert snapshot(outside) == before and not (repo / ".git/hooks/post-commit").exists()
    await run(http_download, promo, "http-download", {"url": url, "outPath": "./repo/new/file.bin"})
    assert (repo / "new/file.bin").read_bytes() == b"downloaded"
    assert sorted(os.listdir(repo / "new")) == ["file.bin"]


# ---------------------------------------------------------------- delete


async def test_delete_never_touches_git_or_what_links_point_at(promo: str, repo: Path, outside: Path) -> None:
    before = snapshot(outside)
    await refused(delete, promo, "delete", {"path": "./repo/.git"}, "path", ".git")
    await refused(delete, promo, "delete", {"path": "./repo/.GIT/config"}, "path", ".git")
    await refused(delete, promo, "delete", {"path": "./repo/out-link/secret.txt"}, "path", "outside")
    # a glob skips .git and whatever lies behind a link that leads out
    await run(delete, promo, "delete", {"path": "./repo/**/*config*", "pathsAreGlobs": True})
    await run(delete, promo, "delete", {"path": "./repo/**/secret.txt", "pathsAreGlobs": True})
    assert (repo / ".git/config").exists() and snapshot(outside) == before
    await run(delete, promo, "delete", {"path": "./repo/secret-link"})  # the link itself goes
    assert not os.path.lexists(repo / "secret-link") and snapshot(outside) == before


# ---------------------------------------------------------------- toml, tar, untar


async def test_toml_steps_and_archives_never_reach_outside(promo: str, repo: Path, outside: Path) -> None:
    import tarfile

    (outside / "values.toml").write_text('tag = "outside"\n')
    before = snapshot(outside)
    os.symlink(outside / "values.toml", repo / "values-link.toml")
    update = {"path": "./repo/values-link.toml", "updates": [{"key": "tag", "value": "pwned"}]}
    await refused(toml_update, promo, "toml-update", update, "path", "outside")
    parse = {"path": "./repo/values-link.toml", "outputs": [{"name": "t", "fromExpression": "tag"}]}
    await refused(toml_parse, promo, "toml-parse", parse, "path", "outside")
    await refused(tar, promo, "tar", {"inPath": "./repo/out-link", "outPath": "a.tar"}, "inPath", "outside")
    await refused(tar, promo, "tar", {"inPath": "./repo/app", "outPath": "./repo/out-link/a.tar"}, "outPath", "outside")
    await refused(tar, promo, "tar", {"inPath": "./repo/app", "outPath": "./repo/gitdir/a.tar"}, "outPath", ".git")
    # the checkout's links are archived as links: nothing they point at is read
    await run(tar, promo, "tar", {"inPath": "./repo", "outPath": "repo.tar"})
    with tarfile.open(workdir(promo) / "repo.tar") as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert members["secret-link"].issym() and not any(n.startswith(".git") for n in members)
        assert all(archive.extractfile(m).read() != b"worker secret\n" for m in members.values() if m.isreg())
    await refused(untar, promo, "untar", {"inPath": "repo.tar", "outPath": "./repo/out-link/x"}, "outPath", "outside")
    await refused(untar, promo, "untar", {"inPath": "repo.tar", "outPath": "./repo/gitdir/x"}, "outPath", ".git")
    await refused(untar, promo, "untar", {"inPath": "./repo/secret-link", "outPath": "x"}, "inPath", "outside")
    # extracting the archive of the checkout refuses its links that lead out or into .git
    await refused(untar, promo, "untar", {"inPath": "repo.tar", "outPath": "copy"}, "inPath", "archive 'repo.tar' refused")
    assert snapshot(outside) == before and not (workdir(promo) / "copy").exists()


# ---------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize(
    "fn,uses,config,field",
    [
        (file_write, "file-write", {"path": "a\0b", "contents": "x"}, "path"),
        (copy, "copy", {"inPath": "./repo/app", "outPath": "out\0/x"}, "outPath"),
        (copy, "copy", {"inPath": "./repo\0", "outPath": "x"}, "inPath"),
        (delete, "delete", {"paths": ["ok", "bad\0"]}, "paths[1]"),
        (yaml_parse, "yaml-parse", {"path": "v\0.yaml", "outputs": [{"name": "a", "fromExpression": "a"}]}, "path"),
        (yaml_merge, "yaml-merge", {"inFiles": ["a\0.yaml"], "outFile": "o.yaml"}, "inFiles[0]"),
        (kustomize_build, "kustomize-build", {"path": "./repo/k\0", "outPath": "o.yaml"}, "path"),
        (helm_template, "helm-template", {"path": "./chart", "releaseName": "a", "outPath": "o\0.yaml"}, "outPath"),
        (toml_update, "toml-update", {"path": "v\0.toml", "updates": [{"key": "a", "value": 1}]}, "path"),
        (tar, "tar", {"inPath": "./repo/app", "outPath": "a\0.tar"}, "outPath"),
        (untar, "untar", {"inPath": "a\0.tar", "outPath": "x"}, "inPath"),
    ],
)
async def test_a_nul_byte_in_a_path_fails_at_once(promo: str, repo: Path, fn, uses: str, config: dict, field: str) -> None:
    msg = await refused(fn, promo, uses, config, field, "NUL byte")
    assert f"'{field}'" in msg


# ---------------------------------------------------------------- the resolver itself


def test_resolve_rules(promo: str, repo: Path) -> None:
    base = workdir(promo)
    root = Path(os.path.realpath(base))
    assert _safe_paths.resolve(base, "repo/app/../app/values.yaml") == root / "repo/app/values.yaml"
    assert _safe_paths.resolve(base, "repo/missing/../app") == root / "repo/app"
    assert _safe_paths.resolve(base, "repo/new/dir/x.yaml") == root / "repo/new/dir/x.yaml"
    assert _safe_paths.resolve(base, "repo/cfg", follow_final=False) == root / "repo/cfg"
    os.symlink("app/sub", repo / "inner")
    os.symlink("inner", repo / "inner2")
    assert _safe_paths.resolve(base, "repo/inner2/file.txt") == root / "repo/app/sub/file.txt"
    os.symlink("loop-b", repo / "loop-a")
    os.symlink("loop-a", repo / "loop-b")
    for rel, words in [
        ("repo/loop-a/x", "more than"),
        ("repo/missing/../out-link/x", "outside"),
        ("repo/up", "outside"),
        ("repo/chain/x", "outside"),
        ("repo/out-link", "outside"),
        ("repo/cfg", ".git"),
        ("repo/gitdir", ".git"),
        ("repo/.Git", ".git"),
        ("../x", "leaves"),
        ("/etc/passwd", "relative"),
        ("", "non-empty"),
        ("a\0", "NUL"),
    ]:
        with pytest.raises(ApplicationError) as e:
            _safe_paths.resolve(base, rel, "f")
        assert e.value.non_retryable and words.lower() in str(e.value).lower(), (rel, str(e.value))
