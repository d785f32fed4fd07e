"""git-clone's insecureSkipTLSVerify, blobless, recurseSubmodules, checkout[].sparse and
author.signingKey, git-commit's author.signingKey and git-push's provider, against real git
(and real gpg, and an HTTPS git server with a self-signed certificate)."""

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

from activities.git_ops import commit_url  # noqa: E402
from activities.steps._submodules import resolve_url  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.git_commit import git_commit  # noqa: E402
from activities.steps.git_push import git_push  # noqa: E402
from tests.githttp import GitHTTPServer  # noqa: E402
from tests.gitrepos import Remote, git, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()
USER, PASSWORD = "bot", "s3cret-Pa55"


async def clone(p: str, url: str, checkout: list[dict], **cfg: object) -> dict:
    res = await env.run(git_clone, step(p, "git-clone", {"repoURL": url, "checkout": checkout, **cfg}))
    assert res.status == "Succeeded"
    return res.outputs["commits"]


def files(tree: Path) -> set[str]:
    return {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file() and ".git" not in p.parts}


# --- sparse and blobless ------------------------------------------------------------------


async def test_sparse_checkout_holds_only_the_named_directories(promo: str, remote: Remote) -> None:
    await clone(promo, remote.url, [{"branch": "main", "path": "./src", "sparse": ["environments/uat"]}])
    src = workdir(promo) / "src"
    assert files(src) == {"environments/uat/kustomization.yaml"}
    assert git("config", "core.sparseCheckoutCone", cwd=src) == "true"
    # the commit is whole: only the work tree is sparse
    assert git("ls-tree", "-r", "--name-only", "HEAD", cwd=src).splitlines() == sorted(files_at(remote))
    # git-commit stages the change inside the cone and leaves the files outside it alone
    (src / "environments/uat/kustomization.yaml").write_text("resources: []\n")
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "sparse"}))
    assert res.status == "Succeeded" and res.outputs["commit"] == git("rev-parse", "HEAD", cwd=src)
    assert git("show", "--name-only", "--format=", "HEAD", cwd=src) == "environments/uat/kustomization.yaml"
    assert git("ls-tree", "-r", "--name-only", "HEAD", cwd=src).splitlines() == sorted(files_at(remote))


def files_at(remote: Remote) -> list[str]:
    return git("ls-tree", "-r", "--name-only", "main", cwd=remote.bare).splitlines()


@pytest.mark.parametrize("sparse", ["../etc", "/etc", "env/*"])
async def test_a_sparse_path_outside_the_repository_or_a_glob_is_refused(promo: str, remote: Remote, sparse: str) -> None:
    with pytest.raises(ApplicationError) as e:
        await clone(promo, remote.url, [{"path": "./src", "sparse": ["base", sparse]}])
    assert e.value.type == STEP_FAILED and "checkout[0].sparse[1]" in str(e.value)


def missing_objects(repo: Path) -> list[str]:
    out = git("rev-list", "--objects", "--all", "--missing=print", cwd=repo)
    return [line[1:] for line in out.splitlines() if line.startswith("?")]


async def test_blobless_clone_fetches_blobs_only_for_what_it_checks_out(promo: str, remote: Remote) -> None:
    git("config", "uploadpack.allowFilter", "true", cwd=remote.bare)
    old_readme = git("rev-parse", "main~1:base/README.md", cwd=remote.bare)
    values = git("rev-parse", "main:charts/my-app/values.yaml", cwd=remote.bare)
    await clone(
        promo, remote.url, [{"branch": "main", "path": "./thin", "sparse": ["base"]}, {"branch": "main", "path": "./full"}],
        blobless=True,
    )  # fmt: skip
    thin, full = workdir(promo) / "thin", workdir(promo) / "full"
    assert git("config", "remote.origin.partialclonefilter", cwd=thin) == "blob:none"
    assert (thin / "base/README.md").read_text() == "base v2\n"
    # not checked out (an older version, a file outside the sparse cone): not fetched
    assert {old_readme, values} <= set(missing_objects(thin))
    assert values not in missing_objects(full) and old_readme in missing_objects(full)
    # a later step still works (git fetches a missing blob when it needs one)
    assert git("show", "HEAD~1:base/README.md", cwd=full) == "base"


async def test_without_blobless_every_object_is_there(promo: str, remote: Remote) -> None:
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}])
    assert missing_objects(workdir(promo) / "src") == []


# --- submodules ---------------------------------------------------------------------------


def with_submodule(remote: Remote, sub_url: str, name: str = "lib") -> str:
    """Push to ``remote``'s main a commit adding a submodule ``name`` at ``sub_url``."""
    d = remote.tmp / f"super-{name}"
    git("clone", "--quiet", remote.url, str(d))
    git("-c", "protocol.file.allow=always", "submodule", "--quiet", "add", sub_url, name, cwd=d)
    git("commit", "--quiet", "-m", f"add submodule {name}", cwd=d)
    git("push", "--quiet", "origin", "HEAD:main", cwd=d)
    return git("rev-parse", f"HEAD:{name}", cwd=d)


def library(remote: Remote, name: str = "lib") -> Path:
    bare = remote.bare.parent / f"{name}.git"
    seed = remote.tmp / f"{name}-seed"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git("init", "--quiet", "--initial-branch=main", str(seed))
    (seed / "lib.txt").write_text("library v1\n")
    git("add", "-A", cwd=seed)
    git("commit", "--quiet", "-m", "lib v1", cwd=seed)
    git("push", "--quiet", str(bare), "main", cwd=seed)
    (seed / "lib.txt").write_text("library v2\n")
    git("commit", "--quiet", "-am", "lib v2 (not recorded in the superproject)", cwd=seed)
    return bare


async def test_recurse_submodules_checks_out_the_recorded_commit(promo: str, remote: Remote) -> None:
    lib = library(remote)
    recorded = with_submodule(remote, lib.as_uri())
    git("push", "--quiet", str(lib), "main", cwd=remote.tmp / "lib-seed")  # lib moves on
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}], recurseSubmodules=True)
    src = workdir(promo) / "src"
    assert (src / "lib/lib.txt").read_text() == "library v1\n"
    assert git("rev-parse", "HEAD", cwd=src / "lib") == recorded
    # later steps run in the checkout as before
    (src / "new.txt").write_text("x")
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "m"}))
    assert res.outputs["commit"] == git("rev-parse", "HEAD", cwd=src)


async def test_submodules_of_submodules_are_checked_out_too(promo: str, remote: Remote) -> None:
    inner = library(remote, "inner")
    outer = library(remote, "outer")
    d = remote.tmp / "outer-with-inner"
    git("clone", "--quiet", outer.as_uri(), str(d))
    git("-c", "protocol.file.allow=always", "submodule", "--quiet", "add", inner.as_uri(), "inner", cwd=d)
    git("commit", "--quiet", "-m", "add inner", cwd=d)
    git("push", "--quiet", "origin", "HEAD:main", cwd=d)
    with_submodule(remote, outer.as_uri(), name="outer")
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}], recurseSubmodules=True)
    src = workdir(promo) / "src"
    assert (src / "outer/inner/lib.txt").read_text() == "library v1\n"
    # git runs in a submodule's work tree (its core.worktree is git's own, and allowed there)
    assert git("status", "--porcelain", cwd=src / "outer") == ""
    # ... but a core.worktree pointing anywhere else is refused as in any other clone
    git("config", "core.worktree", str(src), cwd=src / "outer")
    (src / "outer/new.txt").write_text("x")
    with pytest.raises(ApplicationError, match="sets core.worktree"):
        await env.run(git_commit, step(promo, "git-commit", {"path": "./src/outer", "message": "m"}))


async def test_submodules_are_left_out_unless_asked_for(promo: str, remote: Remote) -> None:
    with_submodule(remote, library(remote).as_uri())
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}])
    assert list((workdir(promo) / "src/lib").iterdir()) == []


async def test_a_relative_submodule_url_is_resolved_against_the_repository(promo: str, remote: Remote) -> None:
    library(remote, "shared")
    with_submodule(remote, "../shared.git", name="shared")
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}], recurseSubmodules=True)
    src = workdir(promo) / "src"
    assert (src / "shared/lib.txt").read_text() == "library v1\n"
    assert git("config", "submodule.shared.url", cwd=src) == (remote.bare.parent / "shared.git").as_uri()


async def test_a_submodule_with_a_remote_helper_url_is_refused(promo: str, remote: Remote) -> None:
    d = remote.tmp / "evil"
    git("clone", "--quiet", remote.url, str(d))
    (d / ".gitmodules").write_text('[submodule "x"]\n\tpath = x\n\turl = ext::sh -c touch% /tmp/pwned\n')
    git("update-index", "--add", "--cacheinfo", f"160000,{git('rev-parse', 'HEAD', cwd=d)},x", cwd=d)
    git("add", ".gitmodules", cwd=d)
    git("commit", "--quiet", "-m", "evil submodule", cwd=d)
    git("push", "--quiet", "origin", "HEAD:main", cwd=d)
    with pytest.raises(ApplicationError) as e:
        await clone(promo, remote.url, [{"branch": "main", "path": "./src"}], recurseSubmodules=True)
    assert "transport 'ext' is not allowed" in str(e.value)
    assert not (workdir(promo) / "src").exists()


@pytest.fixture
def http_server(remote: Remote) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(remote.bare.parent, USER, PASSWORD) as server:
        yield server


@pytest.mark.parametrize("scope", ["server", "each repository"])
async def test_submodules_over_http_get_the_credentials_for_their_own_url(
    promo: str, remote: Remote, http_server: GitHTTPServer, monkeypatch: pytest.MonkeyPatch, scope: str
) -> None:
    lib = library(remote)
    with_submodule(remote, "../lib.git")
    url = http_server.url_for(remote.bare)
    for n, prefix in enumerate([http_server.base_url] if scope == "server" else [url, http_server.url_for(lib)], 1):
        monkeypatch.setenv(f"GANTRY_GIT_CREDENTIALS_{n}_URL", prefix)
        monkeypatch.setenv(f"GANTRY_GIT_CREDENTIALS_{n}_USERNAME", USER)
        monkeypatch.setenv(f"GANTRY_GIT_CREDENTIALS_{n}_PASSWORD", PASSWORD)
    await clone(promo, url, [{"branch": "main", "path": "./src"}], recurseSubmodules=True)
    src = workdir(promo) / "src"
    assert (src / "lib/lib.txt").read_text() == "library v1\n"
    assert git("config", "submodule.lib.url", cwd=src) == http_server.url_for(lib)
    for config in [src / ".git/config", src / ".git/modules/lib/config"]:
        assert PASSWORD not in config.read_text()


async def test_a_submodule_never_gets_the_main_repository_s_credential(
    promo: str, remote: Remote, http_server: GitHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    library(remote)
    with_submodule(remote, "../lib.git")
    url = http_server.url_for(remote.bare)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", url)  # this repository only
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", PASSWORD)
    with pytest.raises(ApplicationError) as e:
        await clone(promo, url, [{"branch": "main", "path": "./src"}], recurseSubmodules=True)
    assert "lib" in str(e.value) and PASSWORD not in str(e.value)


def test_relative_submodule_urls() -> None:
    assert resolve_url("https://h.example/org/app.git", "../lib.git") == "https://h.example/org/lib.git"
    assert resolve_url("git@h.example:org/app", "../lib") == "git@h.example:org/lib"
    assert resolve_url("https://h.example/org/app", "./sub") == "https://h.example/org/app/sub"
    assert resolve_url("https://h.example/org/app", "https://other/x") == "https://other/x"
    with pytest.raises(Exception, match="climbs above"):
        resolve_url("https://h.example/app", "../../x")


# --- signing ------------------------------------------------------------------------------


def gpg(home: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), *args],
        input=stdin, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Two signing keys made here (no passphrase): (GNUPGHOME with their public halves,
    {name: ASCII-armored private key})."""
    home = tmp_path / "g"
    home.mkdir(mode=0o700)
    armored: dict[str, str] = {}
    for name in ("alice", "bob"):
        gpg(home, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.com>", "ed25519", "sign", "never")
        armored[name] = gpg(home, "--armor", "--export-secret-keys", f"{name}@example.com")
    yield home, armored
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, timeout=30)


def verify(repo: Path, home: Path, ref: str = "HEAD") -> str:
    """The fingerprint of the key that signed ``ref``, checked by ``git verify-commit``."""
    e = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["git", "verify-commit", ref], cwd=repo, env=e, check=True, capture_output=True, timeout=60)
    return subprocess.run(
        ["git", "log", "-1", "--format=%GF", ref], cwd=repo, env=e, capture_output=True, text=True, check=True
    ).stdout.strip()


def fingerprint(home: Path, who: str) -> str:
    out = gpg(home, "--with-colons", "--fingerprint", f"{who}@example.com")
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


async def test_clone_author_signing_key_signs_later_commits(
    promo: str, remote: Remote, keys: tuple[Path, dict[str, str]]
) -> None:
    home, armored = keys
    author = {"name": "Alice", "email": "alice@example.com", "signingKey": armored["alice"]}
    cfg = {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}], "author": author}
    res = await env.run(git_clone, step(promo, "git-clone", cfg))
    assert armored["alice"] not in str(res)
    src = workdir(promo) / "src"
    (src / "signed.txt").write_text("signed\n")
    res = await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "signed"}))
    assert armored["alice"] not in str(res)
    assert verify(src, home) == fingerprint(home, "alice")
    assert git("log", "-1", "--format=%an <%ae>", cwd=src) == "Alice <alice@example.com>"
    # git-commit's own key wins over the clone's
    (src / "bob.txt").write_text("bob\n")
    bob = {"name": "Bob", "email": "bob@example.com", "signingKey": armored["bob"]}
    await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "by bob", "author": bob}))
    assert verify(src, home) == fingerprint(home, "bob")
    # the pushed commits keep their signatures; no GNUPGHOME is left behind
    await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert verify(remote.bare, home, "main~1") == fingerprint(home, "alice")
    assert [p.name for p in workdir(promo).iterdir() if p.name.startswith(".gnupg")] == []


async def test_commits_are_unsigned_without_a_key_and_gpg_stays_off(promo: str, remote: Remote) -> None:
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}])
    src = workdir(promo) / "src"
    (src / "x.txt").write_text("x")
    await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "plain"}))
    assert git("log", "-1", "--format=%G?", cwd=src) == "N"


BOGUS = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nnot-a-key-c2VjcmV0\n-----END PGP PRIVATE KEY BLOCK-----\n"


async def test_git_clone_refuses_a_signing_key_that_is_no_key_naming_the_field(promo: str, remote: Remote) -> None:
    author = {"name": "A", "email": "a@example.com", "signingKey": BOGUS}
    with pytest.raises(ApplicationError) as e:
        await clone(promo, remote.url, [{"branch": "main", "path": "./src"}], author=author)
    assert e.value.type == STEP_FAILED and "author.signingKey" in str(e.value)
    assert "not-a-key-c2VjcmV0" not in str(e.value) and not (workdir(promo) / "src").exists()


async def test_a_created_branch_s_initial_commit_is_signed_too(
    promo: str, remote: Remote, keys: tuple[Path, dict[str, str]]
) -> None:
    home, armored = keys
    author = {"name": "Alice", "email": "alice@example.com", "signingKey": armored["alice"]}
    await clone(promo, remote.url, [{"branch": "stage/new", "create": True, "path": "./out"}], author=author)
    assert verify(remote.bare, home, "stage/new") == fingerprint(home, "alice")


async def test_a_signing_key_that_is_no_key_fails_without_echoing_it(promo: str, remote: Remote) -> None:
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}])
    (workdir(promo) / "src/x.txt").write_text("x")
    author = {"name": "A", "email": "a@example.com", "signingKey": BOGUS}
    with pytest.raises(ApplicationError) as e:
        await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "m", "author": author}))
    assert "gpg --import" in str(e.value) and "not-a-key-c2VjcmV0" not in str(e.value)
    assert git("log", "-1", "--format=%s", cwd=workdir(promo) / "src") != "m"


# --- insecureSkipTLSVerify ----------------------------------------------------------------


@pytest.fixture
def https_remote(remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with GitHTTPServer(remote.bare.parent, USER, PASSWORD, tls=(cert, key)) as server:
        url = server.url_for(remote.bare)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_URL", server.base_url)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_USERNAME", USER)
        monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", PASSWORD)
        yield url


async def test_a_self_signed_certificate_is_refused_by_default(promo: str, https_remote: str) -> None:
    with pytest.raises(ApplicationError) as e:
        await clone(promo, https_remote, [{"branch": "main", "path": "./src"}])
    assert "certificate" in str(e.value).lower() and PASSWORD not in str(e.value)


async def test_insecure_skip_tls_verify_clones_and_pushes_that_repository(
    promo: str, remote: Remote, https_remote: str
) -> None:
    commits = await clone(promo, https_remote, [{"branch": "main", "path": "./src"}], insecureSkipTLSVerify=True)
    assert commits["./src"] == remote.sha()
    src = workdir(promo) / "src"
    assert git("config", "--local", "http.sslVerify", cwd=src) == "false"
    (src / "tls.txt").write_text("over https\n")
    await env.run(git_commit, step(promo, "git-commit", {"path": "./src", "message": "over https"}))
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src"}))
    assert remote.sha() == res.outputs["commit"] and remote.log()[0] == "over https"


# --- git-push provider --------------------------------------------------------------------


def test_provider_gives_commit_url_its_shape_on_a_host_whose_name_does_not_say() -> None:
    url = "https://git.example.com/org/app.git"
    assert commit_url(url, "abc") == ""
    assert commit_url(url, "abc", "gitlab") == "https://git.example.com/org/app/-/commit/abc"
    assert commit_url(url, "abc", "github") == "https://git.example.com/org/app/commit/abc"
    assert commit_url(url, "abc", "bitbucket") == "https://git.example.com/org/app/commits/abc"
    assert commit_url("https://github.com/org/app.git", "abc") == "https://github.com/org/app/commit/abc"


async def test_git_push_provider_shapes_its_commit_url(promo: str, remote: Remote) -> None:
    await clone(promo, remote.url, [{"branch": "main", "path": "./src"}])
    res = await env.run(git_push, step(promo, "git-push", {"path": "./src", "provider": "gitlab"}))
    assert res.outputs["commitURL"] == ""  # a local repository has no web page, whatever the provider
