"""Git's trust boundary (issue #10, git's share), attacked through the steps as a
promotion runs them:

- a ``.git/config`` that runs programs (core.fsmonitor, filter drivers, hooks) is never
  obeyed, by git-commit nor by the dry-run diff;
- option-like values (``--upload-pack=...``) never reach git as options;
- a protocol allow-list applies to every git command, discovery included; local
  repositories only when the worker allows them;
- the askpass answers only for the credential's own scheme://host:port and path prefix,
  so a redirect to another server or path never gets the credential;
- git sees no variable of the worker outside the allow-list.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities import git_ops  # noqa: E402
from activities.discovery.git import discover  # noqa: E402
from activities.git_ops import Git  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.git_clear import git_clear  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import git_push  # noqa: E402
from activities.steps.git_tag import git_tag  # noqa: E402
from activities.trust import PASSED_ON  # noqa: E402
from activities.workdir import WorkdirActivities  # noqa: E402
from pipeline.manifests.models import GitSubscription  # noqa: E402
from tests.githttp import _GitHTTP  # noqa: E402
from tests.gitrepos import Remote, git, promo, remote, step, work_root  # noqa: E402,F401

pytestmark = pytest.mark.integration

env = ActivityEnvironment()
USER, PASSWORD = "bot", "s3cret-askpass-value"


async def clone(p: str, url: str, checkout: list[dict] | None = None) -> dict:
    res = await env.run(git_clone, step(p, "git-clone", {"repoURL": url, "checkout": checkout or [{"branch": "main", "path": "./src"}]}))
    return res.outputs["commits"]


async def fails(activity, p: str, uses: str, config: dict) -> str:
    with pytest.raises(ApplicationError) as e:
        await env.run(activity, step(p, uses, config))
    assert e.value.type == STEP_FAILED and e.value.non_retryable, e.value
    return str(e.value)


def marker_script(tmp: Path, name: str) -> tuple[Path, Path]:
    """A program that, if anything runs it, leaves a marker and a dump of its environment."""
    marker = tmp / f"{name}.ran"
    script = tmp / f"{name}.sh"
    script.write_text(f"#!/bin/sh\nenv > '{marker}'\nexit 0\n")
    script.chmod(0o755)
    return script, marker


# -- config that runs programs ------------------------------------------------------------


async def test_fsmonitor_in_git_config_runs_neither_in_git_commit_nor_in_the_dry_run_diff(
    promo: str, remote: Remote, tmp_path: Path
) -> None:
    await clone(promo, remote.url)
    src = workdir(promo) / "src"
    script, marker = marker_script(tmp_path, "fsmonitor")
    # What a step writing into .git (the copy step before issue #10) could leave behind.
    git("config", "core.fsmonitor", str(script), cwd=src)
    (src / "base" / "README.md").write_text("changed\n")

    msg = await fails(git_commit, promo, "git-commit", {"path": "./src", "message": "m"})
    assert "core.fsmonitor" in msg and "refusing to run git" in msg
    diff = await env.run(WorkdirActivities("q").workdir_diff, promo)
    assert "not diffed" in diff and "core.fsmonitor" in diff
    assert not marker.exists()


@pytest.mark.parametrize(
    "key, attributes",
    [
        ("filter.evil.clean", "* filter=evil\n"),
        ("filter.evil.process", "* filter=evil\n"),
        ("diff.evil.textconv", "* diff=evil\n"),
        ("diff.evil.command", "* diff=evil\n"),
        ("core.hooksPath", ""),
        ("core.pager", ""),
        ("core.sshCommand", ""),
        ("include.path", ""),
        ("url.file:///nowhere.insteadOf", ""),
        ("core.worktree", ""),
    ],
)
async def test_program_running_keys_in_git_config_are_refused(
    promo: str, remote: Remote, tmp_path: Path, key: str, attributes: str
) -> None:
    await clone(promo, remote.url)
    src = workdir(promo) / "src"
    script, marker = marker_script(tmp_path, "driver")
    if attributes:
        (src / ".gitattributes").write_text(attributes)
    (src / "base" / "README.md").write_text("changed\n")
    git("config", key, str(script), cwd=src)

    msg = await fails(git_commit, promo, "git-commit", {"path": "./src", "message": "m"})
    assert key.split(".")[-1].lower() in msg.lower() and "refusing" in msg
    await fails(git_clear, promo, "git-clear", {"path": "./src"})
    diff = await env.run(WorkdirActivities("q").workdir_diff, promo)
    assert "not diffed" in diff
    assert not marker.exists()


async def test_hooks_in_the_clone_never_run(promo: str, remote: Remote, tmp_path: Path) -> None:
    await clone(promo, remote.url)
    src = workdir(promo) / "src"
    script, marker = marker_script(tmp_path, "hook")
    for hook in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "pre-push", "post-checkout", "reference-transaction"):
        (src / ".git" / "hooks" / hook).write_text(script.read_text())
        (src / ".git" / "hooks" / hook).chmod(0o755)
    (src / "base" / "README.md").write_text("changed\n")
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "m"}))
    await env.run(git_tag, step(promo, "git-tag", {"path": "./src", "tag": "t1", "message": "m"}))
    await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert remote.sha("main") == res.outputs["commit"]
    await env.run(WorkdirActivities("q").workdir_diff, promo)
    assert not marker.exists()


async def test_dry_run_diff_does_not_follow_symlinks_out_of_the_working_directory(
    promo: str, remote: Remote, tmp_path: Path
) -> None:
    """A committed symlink to a folder outside must not lead the diff into repositories there."""
    outside = tmp_path / "outside"
    git("init", "-q", str(outside))
    (outside / "untracked.txt").write_text("x\n")
    await clone(promo, remote.url)
    (workdir(promo) / "src" / "escape").symlink_to(outside)
    diff = await env.run(WorkdirActivities("q").workdir_diff, promo)
    assert "untracked.txt" not in diff
    assert git("status", "--porcelain", cwd=outside) == "?? untracked.txt"  # nothing staged there


# -- values are data, never options -------------------------------------------------------


async def test_option_like_values_never_reach_git(promo: str, remote: Remote, tmp_path: Path) -> None:
    marker = tmp_path / "upload-pack.ran"
    evil = f"--upload-pack=touch {marker}"
    msg = await fails(git_clone, promo, "git-clone", {"repoURL": evil, "checkout": [{"path": "./src"}]})
    assert "'repoURL'" in msg and "option" in msg
    for field in ("commit", "branch", "tag", "path"):
        item = {"path": "./src", field: evil}
        msg = await fails(git_clone, promo, "git-clone", {"repoURL": remote.url, "checkout": [item]})
        assert f"checkout[0].{field}" in msg and "option" in msg, msg

    await clone(promo, remote.url)
    msg = await fails(git_push, promo, "git-push", {"path": "./src", "targetBranch": f"--exec=touch {marker}"})
    assert "'targetBranch'" in msg
    msg = await fails(git_push, promo, "git-push", {"path": "./src", "tag": "--delete"})
    assert "'tag'" in msg
    msg = await fails(git_tag, promo, "git-tag", {"path": "./src", "tag": "-d", "message": "m"})
    assert "'tag'" in msg
    for activity, uses, config in (
        (git_commit, "git-commit", {"path": "-C/", "message": "m"}),
        (git_clear, "git-clear", {"path": "-C/"}),
    ):
        msg = await fails(activity, promo, uses, config)
        assert "'path'" in msg and "option" in msg, msg
    assert not marker.exists()


async def test_ext_transport_is_refused(promo: str, tmp_path: Path) -> None:
    marker = tmp_path / "ext.ran"
    msg = await fails(git_clone, promo, "git-clone", {"repoURL": f"ext::sh -c touch% {marker}", "checkout": [{"path": "./src"}]})
    assert "'repoURL'" in msg and "'ext'" in msg
    # and git itself refuses it even when asked directly
    with pytest.raises(git_ops.GitError) as e:
        Git().run("ls-remote", f"ext::sh -c touch% {marker}")
    assert e.value.terminal
    assert not marker.exists()


# -- protocol allow-list; local repositories are opt-in -----------------------------------


async def test_local_repositories_need_the_worker_to_allow_them(
    promo: str, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GANTRY_ALLOW_LOCAL_REPOS", raising=False)
    for url in (remote.url, str(remote.bare)):
        msg = await fails(git_clone, promo, "git-clone", {"repoURL": url, "checkout": [{"path": "./src"}]})
        assert "GANTRY_ALLOW_LOCAL_REPOS=1" in msg and "--allow-local-repos" in msg, msg
    assert not (workdir(promo) / "src").exists()
    # git itself refuses too, whatever reaches it
    with pytest.raises(git_ops.GitError) as e:
        Git().run("ls-remote", remote.url)
    assert e.value.terminal and "not allowed" in str(e.value)

    monkeypatch.setenv("GANTRY_ALLOW_LOCAL_REPOS", "1")
    assert (await clone(promo, remote.url)) == {"./src": remote.sha("main")}


async def test_discovery_refuses_local_repositories_unless_allowed(
    work_root: Path, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = GitSubscription.model_validate({"repoURL": remote.url})
    monkeypatch.delenv("GANTRY_ALLOW_LOCAL_REPOS", raising=False)
    with pytest.raises(ApplicationError) as e:
        discover(sub)
    assert e.value.non_retryable and "GANTRY_ALLOW_LOCAL_REPOS=1" in str(e.value)
    monkeypatch.setenv("GANTRY_ALLOW_LOCAL_REPOS", "1")
    assert discover(sub)["commits"][0]["id"] == remote.sha("main")


async def test_the_operators_protocol_allow_list_is_kept(
    promo: str, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "https:ssh")
    assert git_ops.allowed_protocols() == ["https", "ssh"]
    assert Git().env()["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    msg = await fails(git_clone, promo, "git-clone", {"repoURL": remote.url, "checkout": [{"path": "./src"}]})
    assert "GIT_ALLOW_PROTOCOL" in msg
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file:https:ext")
    assert git_ops.allowed_protocols() == ["https", "file"]  # intersected: never ext
    assert (await clone(promo, remote.url)) == {"./src": remote.sha("main")}


# -- environment ---------------------------------------------------------------------------


def test_git_sees_only_the_allow_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKER_SECRET_TOKEN", "leak-me")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_Z_URL", "https://h.example/")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_Z_PASSWORD", "leak-me-too")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.fsmonitor'='touch /tmp/x'")
    monkeypatch.setenv("GIT_DIR", str(tmp_path))
    ours = {
        "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL",
        "GIT_TERMINAL_PROMPT", "LC_ALL", "LANGUAGE", "GIT_ALLOW_PROTOCOL", "GIT_SSH_COMMAND", "GIT_PAGER",
        "GIT_CEILING_DIRECTORIES",
    }  # fmt: skip
    e = Git().env()
    assert set(e) <= set(PASSED_ON) | ours, set(e) - set(PASSED_ON) - ours
    assert e["GIT_CONFIG_GLOBAL"] == os.devnull and "leak-me" not in "".join(e.values())
    with_creds = Git(url="https://h.example/r.git").env({"GIT_AUTHOR_NAME": "a"})
    assert set(with_creds) - set(e) == {
        "GIT_ASKPASS", "GANTRY_ASKPASS_ORIGIN", "GANTRY_ASKPASS_PATH", "GANTRY_ASKPASS_USERNAME",
        "GANTRY_ASKPASS_PASSWORD", "GIT_AUTHOR_NAME",
    }  # fmt: skip


# -- askpass: only the credential's own host and path --------------------------------------


def test_askpass_answers_only_for_its_origin_and_path_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_A_URL", "https://git.example/org-a")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_A_USERNAME", USER)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_A_PASSWORD", PASSWORD)
    e = Git(url="https://git.example/org-a/repo.git").env()

    def ask(prompt: str) -> str:
        return subprocess.run([e["GIT_ASKPASS"], prompt], env=e, capture_output=True, text=True, timeout=30).stdout

    assert ask("Username for 'https://git.example/org-a/repo.git': ") == f"{USER}\n"
    assert ask("Password for 'https://bot@git.example:443/org-a/sub/other.git': ") == f"{PASSWORD}\n"
    for prompt in (
        "Password for 'https://bot@git.example:8443/org-a/repo.git': ",  # another port
        "Password for 'http://bot@git.example/org-a/repo.git': ",  # plain http
        "Password for 'https://bot@evil.example/org-a/repo.git': ",  # another host
        "Password for 'https://bot@git.example.evil.example/org-a/repo.git': ",
        "Password for 'https://bot@git.example/org-b/repo.git': ",  # another path
        "Password for 'https://bot@git.example/org-a/../org-b/repo.git': ",  # dot segments
        "Password for 'https://bot@git.example/org-a/%2e%2e/org-b/repo.git': ",
        "Password for 'https://bot@git.example/org-ab/repo.git': ",  # not a whole segment
        "Password for 'https://bot@git.example': ",  # no path: the whole host
        "Enter passphrase for key '/root/.ssh/id_rsa': ",
    ):
        assert ask(prompt) == "", prompt


class _Recording(_GitHTTP):
    """Basic-auth smart HTTP over real repositories that records every request's
    Authorization header, and answers requests under a ``redirects`` prefix with a 302."""

    seen: list[tuple[str, str]]
    redirects: dict[str, str]

    def _handle(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization") or ""))
        for prefix, target in self.redirects.items():
            if self.path.startswith(prefix):
                self.send_response(302)
                self.send_header("Location", target + self.path[len(prefix) :])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        super()._handle()

    do_GET = do_POST = _handle


class Server:
    def __init__(self, root: Path, redirects: dict[str, str] | None = None):
        attrs = {"root": root, "username": USER, "password": PASSWORD, "seen": [], "redirects": redirects or {}}
        self.handler = type("Recording", (_Recording,), attrs)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def seen(self) -> list[tuple[str, str]]:
        return self.handler.seen

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def basic() -> str:
    return base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def served(remote: Remote, tmp_path: Path):
    """``remote`` served at /org-a/repo.git and /org-b/repo.git by one server."""
    root = tmp_path / "served"
    for org in ("org-a", "org-b"):
        (root / org).mkdir(parents=True)
        git("clone", "-q", "--bare", str(remote.bare), str(root / org / "repo.git"))
    servers: list[Server] = []
    yield root, servers
    for s in servers:
        s.close()


async def test_a_redirect_to_another_host_never_gets_the_credential(
    promo: str, served, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, servers = served
    other = Server(root)  # another port on loopback: another host:port
    first = Server(root, redirects={"/": other.url + "/"})
    servers += [other, first]
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_URL", first.url + "/")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_USERNAME", USER)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_PASSWORD", PASSWORD)

    msg = await fails(git_clone, promo, "git-clone", {"repoURL": f"{first.url}/org-a/repo.git", "checkout": [{"path": "./src"}]})
    assert PASSWORD not in msg
    assert other.seen, "git should have followed the redirect"
    assert all(auth == "" for _, auth in other.seen), other.seen
    assert basic() not in str(other.seen + first.seen)


async def test_a_redirect_out_of_the_credentials_path_never_gets_it(
    promo: str, served, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, servers = served
    server = Server(root, redirects={"/org-a/": "/org-b/"})
    servers.append(server)
    server.handler.redirects = {"/org-a/": f"{server.url}/org-b/"}
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_URL", f"{server.url}/org-a")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_USERNAME", USER)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_PASSWORD", PASSWORD)

    await fails(git_clone, promo, "git-clone", {"repoURL": f"{server.url}/org-a/repo.git", "checkout": [{"path": "./src"}]})
    assert any(path.startswith("/org-b/") for path, _ in server.seen)
    assert all(auth == "" for _, auth in server.seen), server.seen


async def test_the_credential_still_works_for_its_own_host_and_path(
    promo: str, served, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, servers = served
    server = Server(root, redirects={})
    servers.append(server)
    server.handler.redirects = {"/org-a/old.git/": f"{server.url}/org-a/repo.git/"}  # a renamed repository
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_URL", f"{server.url}/org-a")
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_USERNAME", USER)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_R_PASSWORD", PASSWORD)
    assert (await clone(promo, f"{server.url}/org-a/old.git")) == {"./src": remote.sha("main")}
    assert any(auth == f"Basic {basic()}" for _, auth in server.seen)


def test_the_operators_git_config_is_trusted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keys the operator's own config (GANTRY_GIT_CONFIG) sets are not overridden; with
    signing configured there, no signing key is."""
    config = tmp_path / "operator.gitconfig"
    config.write_text("[core]\n\thooksPath = /opt/hooks\n[commit]\n\tgpgSign = true\n")
    monkeypatch.setenv("GANTRY_GIT_CONFIG", str(config))
    args = git_ops.neutral_config()
    assert Git().env()["GIT_CONFIG_GLOBAL"] == str(config)
    assert not any(a.lower().startswith(("core.hookspath=", "commit.gpgsign=", "gpg.")) for a in args), args
    assert "core.fsmonitor=false" in args
    monkeypatch.delenv("GANTRY_GIT_CONFIG")
    args = git_ops.neutral_config()
    assert f"core.hooksPath={os.devnull}" in args and "commit.gpgSign=false" in args and "gpg.program=false" in args
