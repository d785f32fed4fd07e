"""`git-clone`: check out one or more refs of a repository into the working directory.

Kargo's clone options: ``blobless`` (a partial clone), ``checkout[].sparse`` (cone-mode
sparse checkout), ``recurseSubmodules`` (activities.steps._submodules),
``insecureSkipTLSVerify`` (for this repository only) and ``author.signingKey`` (kept for
the checkout's later commits; activities.git_signing).

Each checkout is cloned into a temporary sibling directory and renamed into place, so a
retry after a crash (half-made clone, or a previous attempt's checkout with edits in
it) always ends with a fresh checkout of the same ref: the step is idempotent.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity

from activities.credentials import redact_url
from activities.git_ops import Git, GitError, author_env, remote_branch_sha, resolve_author
from activities.git_signing import commit, keep_clone_key, signing_config
from activities.steps._common import checked_repo_url, git_arg, git_failure, typed_config
from activities.steps._submodules import update_submodules
from activities.steps._workdir_lease import run_leased
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, step_failed
from contracts.step_configs.git_clone import GitCloneConfig


@dataclass
class Checkout:
    index: int
    path: str
    dest: Path
    branch: str
    create: bool
    commit: str
    tag: str
    key: str
    sparse: list[str]

    def field(self, name: str) -> str:
        return f"checkout[{self.index}].{name}"


def _plan(base: Path, config: GitCloneConfig) -> tuple[str, list[Checkout], tuple[str, str] | None]:
    url = checked_repo_url(config.repo_url)
    plans: list[Checkout] = []
    keys: set[str] = set()
    dests: set[Path] = set()
    root = base.resolve()
    for i, item in enumerate(config.checkout):
        path = git_arg(item.path, f"checkout[{i}].path")
        dest = resolve_path(base, path, f"checkout[{i}].path")
        if dest == root:
            raise step_failed(f"config field 'checkout[{i}].path' must name a subdirectory, not the working directory itself")
        if dest in dests:
            raise step_failed(f"config field 'checkout[{i}].path': {path!r} is used by another checkout")
        dests.add(dest)
        branch, commit, tag = (git_arg(getattr(item, f) or "", f"checkout[{i}].{f}") for f in ("branch", "commit", "tag"))
        create = item.create
        key = item.as_ or path
        if key in keys:
            raise step_failed(f"config field 'checkout[{i}].as': duplicate checkout alias {key!r}")
        keys.add(key)
        sparse = [_sparse_path(p, f"checkout[{i}].sparse[{j}]") for j, p in enumerate(item.sparse or [])]
        plans.append(Checkout(i, path, dest, branch, create, commit, tag, key, sparse))
    explicit = (config.author.name, config.author.email) if config.author else None
    return url, plans, explicit


def _sparse_path(value: str, field: str) -> str:
    """A directory of a cone-mode sparse checkout: relative, inside the repository."""
    path = git_arg(value, field).strip("/")
    if value.startswith("/") or not path or any(part in ("", ".", "..") for part in path.split("/")):
        raise step_failed(f"config field {field!r}: {value!r} must be a directory path inside the repository")
    if any(c in path for c in "*?["):
        raise step_failed(f"config field {field!r}: {value!r} holds a glob; cone mode takes directory paths such as 'src/app'")
    return path


@dataclass(frozen=True)
class Options:
    """The clone-wide fields: how every checkout of the repository is made."""

    insecure: bool
    blobless: bool
    submodules: bool
    signing_key: str | None

    @property
    def config(self) -> tuple[tuple[str, str], ...]:
        return (("http.sslVerify", "false"),) if self.insecure else ()


def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _create_branch(g: Git, co: Checkout, author: tuple[str, str], opts: Options) -> None:
    """Push an empty orphan branch, as Kargo does, so later steps work on a real remote branch
    (its one commit signed when the clone's author has a signing key, as later ones are)."""
    g.run("checkout", "--orphan", co.branch)
    g.run("rm", "-r", "-f", "--quiet", "--ignore-unmatch", "--cached", ".")
    g.run("clean", "-f", "-d", "-x", "--quiet")
    commit(g, opts.signing_key, co.dest.parent, "--allow-empty", "--quiet", "-m", "Initial commit", env=author_env(*author))
    try:
        g.run("push", "origin", f"HEAD:refs/heads/{co.branch}")
    except GitError as e:
        # Someone (maybe our own earlier attempt) created it meanwhile: use theirs.
        if e.kind not in ("non_fast_forward", "remote_rejected"):
            raise


def _clone_settings(explicit_author: tuple[str, str] | None, opts: Options) -> list[str]:
    """``-c`` options of ``git clone`` for what the clone keeps in its own config: written
    by the clone itself, no process each."""
    settings = list(opts.config)  # later fetches and pushes skip TLS verification too, for this repository only
    if explicit_author:  # recorded in the clone so git-commit uses it, as Kargo's clone author is
        settings += [(k, v) for k, v in (("user.name", explicit_author[0]), ("user.email", explicit_author[1])) if v]
    return [arg for key, value in settings for arg in ("-c", f"{key}={value}")]


def _clone_branch(remote: Git, url: str, co: Checkout, tmp: Path, filters: list[str], settings: list[str]) -> bool:
    """The common case in one git process: clone with the branch checked out and tracked.
    False when the branch does not exist (the caller creates it or says so)."""
    args = ("clone", "--quiet", "--branch", co.branch, *filters, *settings, "--", url, str(tmp))
    r = remote.run(*args, check=False)
    if r.returncode == 0:
        return True
    out = r.stdout + r.stderr
    if "Remote branch" in out and "not found" in out:
        _rmtree(tmp)
        return False
    raise remote.failure(args, r)


def _clone_one(url: str, co: Checkout, author: tuple[str, str], explicit_author: tuple[str, str] | None, opts: Options) -> str:
    tmp = co.dest.parent / f".{co.dest.name}.gantry-clone"
    _rmtree(tmp)
    co.dest.parent.mkdir(parents=True, exist_ok=True)
    remote = Git(url=url, config=opts.config)
    filters = ["--filter=blob:none"] if opts.blobless else []
    settings = _clone_settings(explicit_author, opts)
    if co.branch and not co.sparse and _clone_branch(remote, url, co, tmp, filters, settings):
        return _finish_clone(url, co, tmp, opts, Git(cwd=tmp, url=url, creds=remote.creds, config=opts.config))
    if co.branch and remote_branch_sha(remote, url, co.branch) is None and not co.create:
        raise step_failed(
            f"config field {co.field('branch')!r}: branch {co.branch!r} does not exist in {url}; "
            f"set {co.field('create')!r}: true to create it"
        )
    remote.run("clone", "--no-checkout", "--quiet", *filters, *settings, "--", url, str(tmp))
    g = Git(cwd=tmp, url=url, creds=remote.creds, config=opts.config)
    if co.sparse:
        g.run("sparse-checkout", "set", "--cone", "--", *co.sparse)
    if co.branch:
        if remote_branch_sha(g, "origin", co.branch) is None:
            _create_branch(g, co, author, opts)
        g.run("fetch", "--quiet", "origin", f"+refs/heads/{co.branch}:refs/remotes/origin/{co.branch}")
        g.run("checkout", "--quiet", "-f", "-B", co.branch, f"refs/remotes/origin/{co.branch}")
        g.run("branch", "--quiet", f"--set-upstream-to=origin/{co.branch}")
    elif co.commit:
        if not g.ok("cat-file", "-e", f"{co.commit}^{{commit}}"):
            try:
                g.run("fetch", "--quiet", "origin", co.commit)
            except GitError as e:
                if e.kind == "transient" and "not our ref" not in e.output and "couldn't find" not in e.output:
                    raise
                raise step_failed(f"config field {co.field('commit')!r}: commit {co.commit} not found in {url}") from None
        g.run("checkout", "--quiet", "-f", "--detach", co.commit)
    elif co.tag:
        if not g.ok("rev-parse", "--verify", "--quiet", f"refs/tags/{co.tag}^{{commit}}"):
            raise step_failed(f"config field {co.field('tag')!r}: tag {co.tag!r} not found in {url}")
        g.run("checkout", "--quiet", "-f", "--detach", f"refs/tags/{co.tag}")
    else:
        if not g.ok("rev-parse", "--verify", "--quiet", "HEAD"):
            raise step_failed(
                f"config field {co.field('branch')!r}: {url} is empty; name a branch and set create: true"
            )
        g.run("reset", "--quiet", "--hard", "HEAD")
    return _finish_clone(url, co, tmp, opts, g)


def _finish_clone(url: str, co: Checkout, tmp: Path, opts: Options, g: Git) -> str:
    """Submodules, the signing key, then the checkout renamed into place; its commit."""
    if opts.signing_key:
        keep_clone_key(tmp / ".git", opts.signing_key)
    if opts.submodules:
        update_submodules(tmp, url, opts.config)
    sha = g.head() or g.out("rev-parse", "HEAD")
    _rmtree(co.dest)
    os.replace(tmp, co.dest)
    return sha


def _clone_all(base: Path, config: GitCloneConfig) -> dict[str, str]:
    url, plans, explicit = _plan(base, config)
    author = resolve_author({"name": explicit[0], "email": explicit[1]} if explicit else None)
    opts = Options(
        insecure=config.insecure_skip_tls_verify,
        blobless=config.blobless,
        submodules=config.recurse_submodules,
        signing_key=config.author.signing_key if config.author else None,
    )
    if opts.signing_key:
        try:
            with signing_config(opts.signing_key, base):
                pass  # a key gpg cannot use fails here, naming the field, not at the first commit
        except GitError as e:
            raise step_failed(f"config field 'author.signingKey': {e}") from None
    commits: dict[str, str] = {}
    for co in plans:
        try:
            commits[co.key] = _clone_one(url, co, author, explicit, opts)
        except GitError as e:
            raise git_failure(e, f"git-clone of {url} into {co.path!r} (config field 'repoURL')") from None
    return commits


@activity.defn(name="git-clone")
async def git_clone(input: StepInput) -> StepResult:
    """Clone ``repoURL`` once per ``checkout`` entry; output ``commits`` by alias or path."""
    config = typed_config(GitCloneConfig, input)
    base = require_workdir(input.promotion)
    activity.logger.info("git-clone %s (%d checkouts)", redact_url(config.repo_url), len(config.checkout))
    commits = await run_leased(base, _clone_all, base, config)
    for key, sha in commits.items():
        activity.logger.info("git-clone: %s at %s", key, sha)
    return StepResult(outputs={"commits": commits})
