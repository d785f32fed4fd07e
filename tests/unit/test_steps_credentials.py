"""The credential store, and git steps over smart HTTP with basic auth.

The HTTP remote is real (tests/githttp.py): ``git http-backend`` behind a small loopback
server that demands a username and password, so the askpass path is exercised end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities import credentials  # noqa: E402
from activities.git_ops import Git, commit_url  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import git_push  # noqa: E402
from tests.githttp import GitHTTPServer  # noqa: E402
from tests.gitrepos import Remote, git, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()
USER, PASSWORD = "bot", "s3cret-Pa55"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for k in list(os.environ):
        if k.startswith("GANTRY_") and "CREDENTIALS" in k:
            monkeypatch.delenv(k)
    return monkeypatch


def test_env_lookup_longest_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_URL", "https://github.com/example")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", "org")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "p1")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_2_URL", "https://GitHub.com/example/deploy-config.git")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_2_USERNAME", "repo")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_2_TOKEN", "p2")
    clean_env.setenv("GANTRY_HELM_CREDENTIALS_1_URL", "https://github.com/")
    clean_env.setenv("GANTRY_HELM_CREDENTIALS_1_USERNAME", "helm")
    assert credentials.lookup("https://github.com/example/deploy-config").username == "repo"
    assert credentials.lookup("https://github.com/example/deploy-config/").password == "p2"
    assert credentials.lookup("https://github.com/example/other.git").username == "org"
    assert credentials.lookup("https://github.com/example2/x") is None  # segment boundary
    assert credentials.lookup("https://github.com/example2/x", "helm").username == "helm"
    assert "p2" not in repr(credentials.lookup("https://github.com/example/deploy-config"))


def test_file_lookup_prefix_regex_and_password_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    f = tmp_path / "creds.yaml"
    f.write_text(
        f"""
credentials:
- url: https://git.corp/
  type: git
  username: corp
  password: pw
- urlRegex: ^https://gitlab\\.corp/team-.*$
  username: team
  passwordFile: {secret}
- url: oci://registry.corp/charts
  type: helm
  username: charts
  token: t
"""
    )
    clean_env.setenv("GANTRY_CREDENTIALS_FILE", str(f))
    assert credentials.lookup("https://git.corp/a/b.git").username == "corp"
    c = credentials.lookup("https://gitlab.corp/team-a/repo.git")
    assert (c.username, c.password) == ("team", "from-file")
    assert credentials.lookup("https://gitlab.corp/other/repo.git") is None
    assert credentials.lookup("oci://registry.corp/charts/app", "helm").password == "t"
    f.write_text("credentials:\n- url: x\n  type: nope\n")
    with pytest.raises(credentials.CredentialsError, match=r"credentials\[0\]\.type"):
        credentials.lookup("x")


def test_normalize_and_commit_url() -> None:
    assert credentials.normalize_url("git@github.com:example/repo.git") == "ssh://github.com/example/repo"
    assert credentials.normalize_url("https://u:p@Example.COM/a/") == "https://example.com/a"
    assert commit_url("https://github.com/o/r.git", "abc") == "https://github.com/o/r/commit/abc"
    assert commit_url("git@github.com:o/r.git", "abc") == "https://github.com/o/r/commit/abc"
    assert commit_url("https://gitlab.com/g/r", "abc") == "https://gitlab.com/g/r/-/commit/abc"
    assert commit_url("file:///tmp/r.git", "abc") == ""


def test_askpass_answers_from_the_process_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_A_URL", "https://h.example/")
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_A_USERNAME", USER)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_A_PASSWORD", PASSWORD)
    g = Git(url="https://h.example/r.git")
    e = g.env()
    script = e["GIT_ASKPASS"]
    assert PASSWORD not in Path(script).read_text()
    assert not any(k.startswith("GANTRY_GIT_CREDENTIALS") for k in e)  # store vars kept from git
    ask = lambda prompt: subprocess.run([script, prompt], env=e, capture_output=True, text=True).stdout  # noqa: E731
    assert ask("Username for 'https://h.example': ") == f"{USER}\n"
    assert ask("Password for 'https://bot@h.example': ") == f"{PASSWORD}\n"
    assert Git(url="https://elsewhere/r.git").env().get("GIT_ASKPASS") is None


@pytest.fixture
def http_remote(remote: Remote) -> Iterator[str]:
    with GitHTTPServer(remote.bare.parent, USER, PASSWORD) as server:
        yield server.url_for(remote.bare)


async def test_clone_and_push_over_http_with_credentials(
    promo: str, remote: Remote, http_remote: str, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_URL", http_remote.rsplit("/", 1)[0])
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", PASSWORD)
    cfg = {"repoURL": http_remote, "checkout": [{"branch": "main", "path": "./src"}]}
    res = await env.run(git_clone, step(promo, "git-clone", cfg))
    assert res.outputs["commits"]["./src"] == remote.sha()
    src = workdir(promo) / "src"
    assert PASSWORD not in (src / ".git/config").read_text()
    assert git("remote", "get-url", "origin", cwd=src) == http_remote
    (src / "over-http.txt").write_text("hi")
    await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "over http"}))
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert remote.sha() == res.outputs["commit"] and remote.log()[0] == "over http"


async def test_http_auth_failure_is_terminal_and_leaks_nothing(
    promo: str, http_remote: str, clean_env: pytest.MonkeyPatch
) -> None:
    cfg = {"repoURL": http_remote, "checkout": [{"branch": "main", "path": "./src"}]}
    with pytest.raises(ApplicationError) as e:  # no credentials configured
        await env.run(git_clone, step(promo, "git-clone", cfg))
    assert e.value.type == STEP_FAILED and "authentication" in str(e.value)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_URL", http_remote)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
    clean_env.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "wrong-" + PASSWORD)
    with pytest.raises(ApplicationError) as e:
        await env.run(git_clone, step(promo, "git-clone", cfg))
    assert e.value.type == STEP_FAILED and "authentication" in str(e.value)
    assert PASSWORD not in str(e.value)
