"""`discover_git`: the commits a Warehouse's git subscription offers, newest/best first.

Each worker keeps one bare mirror per repository under
``<work root>/discovery/git/<sha1 of the normalised URL>/repo.git``: cloned the first
time, then brought up to date with one ``git fetch --prune`` (branches and tags), so a
discovery pass costs one round trip plus local reads. An fcntl lock beside the mirror
keeps two discoveries of one repository on one worker from fetching at once.

Reads are single git calls whose output is parsed as it streams: ``git log`` (first
parent, ``--name-only`` only when path filters are set) stops as soon as enough commits
qualify; ``git for-each-ref`` lists every tag with its peeled commit in one go. What to
keep is decided by ``pipeline.discovery.git_selection`` (pure).

Every git command runs as ``activities.git_ops.Git`` runs it: the worker's protocol
allow-list (``file://`` and local paths only when it allows local repositories, checked
before git runs), program-running config neutralised, askpass only for the credential's
own host and path.

Errors: a bad subscription, unknown repository, missing branch or refused credentials
is a non-retryable ``DiscoveryError``; anything else (network, timeouts) is a retryable
``DiscoveryUnavailable``. Messages name the repository, never credentials.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.credentials import CredentialsError, normalize_url, redact_url
from activities.discovery.errors import discovery_error, unavailable, validated
from activities.git_ops import Git, GitError, check_remote_url
from activities.steps.base import run_blocking, work_root
from pipeline.discovery import git_selection as sel
from pipeline.manifests.models import GitSubscription
from workflows.messages import DiscoveryRequest

_RS, _FS = "\x1e", "\x1f"
#: id, committer date, author, committer, subject
_COMMIT_FORMAT = "--format=%x1e%H%x1f%ct%x1f%an <%ae>%x1f%cn <%ce>%x1f%s"
#: Kargo's diff paths: first-parent diff, no rename detection (it needs blobs).
_DIFF_ARGS = ("--no-renames", "--diff-merges=first-parent", "--root")
_TAG_FIELDS = (
    "%(refname)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objecttype)",
    "%(*objectname)",
    "%(creatordate:unix)",
    "%(subject)",
    "%(authorname) %(authoremail)",
    "%(committername) %(committeremail)",
    "%(*subject)",
    "%(*authorname) %(*authoremail)",
    "%(*committername) %(*committeremail)",
    "%(taggername) %(taggeremail)",
)
_TAG_FORMAT = "--format=%1e" + "%1f".join(_TAG_FIELDS)
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
#: git config that must not change what discovery reads, whatever the worker's user set
_READ_CONFIG = ("-c", "log.showSignature=false", "-c", "log.showRoot=true")


# --- the mirror --------------------------------------------------------------------------


def mirror_dir(url: str) -> Path:
    """Where this worker keeps the mirror of ``url`` (and its lock)."""
    key = hashlib.sha1(normalize_url(url).encode()).hexdigest()
    return work_root() / "discovery" / "git" / key


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the repository's lock: one clone or fetch at a time per mirror."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def network_config(insecure_skip_tls_verify: bool) -> tuple[str, ...]:
    """Per-command git config for talking to the remote (never stored in the mirror,
    so a subscription that drops insecureSkipTLSVerify is verified again)."""
    return ("-c", "http.sslVerify=false") if insecure_skip_tls_verify else ()


def _clone(remote: Git, url: str, repo: Path, blobless: bool, net: tuple[str, ...]) -> Git:
    """A fresh bare mirror, made beside ``repo`` and renamed into place so a crash
    never leaves a half-made one where the next pass would trust it."""
    tmp = repo.with_name(repo.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    args = [*net, "clone", "--bare", "--quiet"]
    if blobless:
        args.append("--filter=blob:none")
    remote.run(*args, "--", url, str(tmp))
    g = Git(cwd=tmp, url=url, creds=remote.creds, git_dir=tmp)
    g.run("config", "--replace-all", "remote.origin.fetch", _REFSPECS[0])
    g.run("config", "--add", "remote.origin.fetch", _REFSPECS[1])
    g.run("config", "gc.autoDetach", "false")
    os.rename(tmp, repo)
    return Git(cwd=repo, url=url, creds=remote.creds, git_dir=repo)


def sync_mirror(url: str, blobless: bool = False, net: tuple[str, ...] = ()) -> tuple[Git, bool]:
    """The up-to-date mirror of ``url`` (call with its lock held), and whether this call
    made it. ``blobless`` only matters for the first clone: reads never need blobs."""
    repo = mirror_dir(url) / "repo.git"
    remote = Git(url=url)
    if not (repo / "HEAD").is_file():
        return _clone(remote, url, repo, blobless, net), True
    g = Git(cwd=repo, url=url, creds=remote.creds, git_dir=repo)
    try:
        if g.run("config", "--get", "remote.origin.url", check=False).stdout.strip() != url:
            g.run("remote", "set-url", "origin", url)
        g.run(*net, "fetch", "--prune", "--quiet", "--no-write-fetch-head", "origin")
    except GitError:
        if g.ok("rev-parse", "--git-dir"):
            raise
        # The mirror itself is damaged (a disk problem, someone's rm): start again.
        shutil.rmtree(repo)
        return _clone(remote, url, repo, blobless, net), True
    return g, False


def default_branch(g: Git, fresh: bool, net: tuple[str, ...] = ()) -> str | None:
    """The remote's default branch: its HEAD as the clone recorded it when the mirror
    is fresh, else as the remote says now (it may have changed since the clone)."""
    if not fresh:
        for line in g.out(*net, "ls-remote", "--symref", "origin", "HEAD").splitlines():
            if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                return line[len("ref: refs/heads/") : -len("\tHEAD")]
    head = g.run("symbolic-ref", "--quiet", "HEAD", check=False).stdout.strip()
    if head.startswith("refs/heads/") and g.ok("rev-parse", "--verify", "--quiet", head):
        return head[len("refs/heads/") :]
    return None


# --- reading commits ---------------------------------------------------------------------

_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote_path(path: str) -> str:
    """A path as git prints it: C-quoted (``"a\\tb"``) when it has odd characters."""
    if len(path) < 2 or path[0] != '"' or path[-1] != '"':
        return path
    body, out, i = path[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(ch in "01234567" for ch in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            if nxt in _C_ESCAPES:
                out.append(_C_ESCAPES[nxt])
                i += 2
                continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _commit(header: str) -> sel.BranchCommit:
    cid, ts, author, committer, subject = header.split(_FS, 4)
    return sel.BranchCommit(cid, int(ts), author, committer, subject)


def _log_entries(lines: Iterable[str]) -> Iterator[tuple[sel.BranchCommit, list[str]]]:
    """(commit, changed paths) pairs from ``git log`` with ``_COMMIT_FORMAT``."""
    current: sel.BranchCommit | None = None
    paths: list[str] = []
    for line in lines:
        if line.startswith(_RS):
            if current is not None:
                yield current, paths
            current, paths = _commit(line[1:]), []
        elif line and current is not None:
            paths.append(unquote_path(line))
    if current is not None:
        yield current, paths


def branch_commits(
    g: Git,
    ref: str,
    *,
    limit: int,
    paths: sel.PathFilter,
    expression: Any = None,
    since: int | None = None,
) -> list[sel.BranchCommit]:
    """The newest qualifying first-parent commits of ``ref``, from one streamed git log."""
    args = ["log", "--first-parent", _COMMIT_FORMAT]
    if paths.active:
        args += ["--name-only", *_DIFF_ARGS]
    elif expression is None:
        args.append(f"--max-count={limit}")
    if since is not None:
        args.append(f"--since=@{since}")
    with g.stream(*_READ_CONFIG, *args, ref, "--") as lines:
        return sel.select_branch_commits(
            _log_entries(lines), limit=limit, paths=paths, expression=expression, since=since
        )


def changed_paths(g: Git, commit_ids: list[str]) -> dict[str, list[str]]:
    """The paths each commit changed (first-parent diff), in one git call."""
    if not commit_ids:
        return {}
    found: dict[str, list[str]] = {}
    args = ["log", "--no-walk=unsorted", "--format=%x1e%H", "--name-only", *_DIFF_ARGS, *commit_ids, "--"]
    with g.stream(*_READ_CONFIG, *args) as lines:
        current: list[str] | None = None
        for line in lines:
            if line.startswith(_RS):
                current = found.setdefault(line[1:], [])
            elif line and current is not None:
                current.append(unquote_path(line))
    return found


def _commit_details(g: Git, commit_ids: list[str]) -> dict[str, sel.BranchCommit]:
    if not commit_ids:
        return {}
    with g.stream(*_READ_CONFIG, "log", "--no-walk=unsorted", _COMMIT_FORMAT, *commit_ids, "--") as lines:
        return {c.id: c for c, _ in _log_entries(lines)}


def list_tags(g: Git) -> list[sel.Tag]:
    """Every tag that leads to a commit, with that commit's metadata (one for-each-ref;
    tags of tags, which it cannot peel, cost one more call each)."""
    out = g.run(*_READ_CONFIG, "for-each-ref", _TAG_FORMAT, "refs/tags").stdout
    tags: list[sel.Tag] = []
    nested: list[tuple[str, int, str, str]] = []
    for record in out.split(_RS)[1:]:
        f = record.rstrip("\n").split(_FS)
        if len(f) != len(_TAG_FIELDS):
            continue
        name = f[0].removeprefix("refs/tags/")
        created = int(f[5] or 0)
        subject = f[6].replace("\n", " ")
        if f[1] == "commit":
            tags.append(sel.Tag(name, f[2], created, subject, f[7].strip(), f[8].strip()))
        elif f[1] == "tag" and f[3] == "commit":
            tags.append(
                sel.Tag(name, f[4], created, f[9].replace("\n", " "), f[10].strip(), f[11].strip(), f[12].strip(), subject)
            )
        elif f[1] == "tag" and f[3] == "tag":
            nested.append((name, created, f[12].strip(), subject))
    return tags + _peel_nested(g, nested)


def _peel_nested(g: Git, nested: list[tuple[str, int, str, str]]) -> list[sel.Tag]:
    if not nested:
        return []
    targets: dict[str, str] = {}
    for name, *_ in nested:
        sha = g.run("rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}", check=False).stdout.strip()
        if sha:
            targets[name] = sha
    details = _commit_details(g, list(dict.fromkeys(targets.values())))
    tags = []
    for name, created, tagger, annotation in nested:
        c = details.get(targets.get(name, ""))
        if c is not None:
            tags.append(sel.Tag(name, c.id, created, c.subject, c.author, c.committer, tagger, annotation))
    return tags


def filter_tags_by_paths(g: Git, tags: list[sel.Tag], paths: sel.PathFilter, limit: int) -> list[sel.Tag]:
    """Keep tags (in order) whose commit passes the path filters, reading diffs in
    batches so a long tag list stops being read once ``limit`` qualify."""
    if not paths.active:
        return tags[:limit]
    kept: list[sel.Tag] = []
    batch = max(2 * limit, 32)
    for start in range(0, len(tags), batch):
        chunk = tags[start : start + batch]
        diffs = changed_paths(g, list(dict.fromkeys(t.commit for t in chunk)))
        for t in chunk:
            if paths.matches(diffs.get(t.commit, ())):
                kept.append(t)
                if len(kept) >= limit:
                    return kept
    return kept


# --- one discovery pass ------------------------------------------------------------------


def _parse(subscription: dict[str, Any]) -> GitSubscription:
    return validated(GitSubscription, subscription, "git")


def _git_failure(url: str, e: GitError) -> ApplicationError:
    where = f"git discovery of {redact_url(url)}"
    if e.kind == "auth":
        return discovery_error(f"{where}: authentication failed (check the credentials for this URL): {e}")
    if e.kind == "not_found":
        return discovery_error(f"{where}: repository not found: {e}")
    if e.terminal:
        return discovery_error(f"{where}: {e}")
    return unavailable(f"{where}: {e}")


def _discover_branch(g: Git, sub: GitSubscription, fresh: bool, **filters: Any) -> dict[str, Any]:
    url = sub.repo_url
    branch = sub.branch or default_branch(g, fresh, network_config(sub.insecure_skip_tls_verify))
    if branch is None:  # an empty repository: nothing to offer yet
        return {"repoURL": url, "branch": "", "commits": []}
    ref = f"refs/heads/{branch}"
    if not g.ok("rev-parse", "--verify", "--quiet", ref):
        raise discovery_error(f"git discovery of {redact_url(url)}: branch {branch!r} not found")
    commits = branch_commits(g, ref, limit=sub.discovery_limit, **filters)
    return {"repoURL": url, "branch": branch, "commits": [sel.commit_entry(c, branch) for c in commits]}


def _discover_tags(g: Git, sub: GitSubscription, rules: sel.TagRules, **filters: Any) -> dict[str, Any]:
    ordered = sel.order_tags(list_tags(g), rules, expression=filters["expression"], since=filters["since"])
    chosen = filter_tags_by_paths(g, ordered, filters["paths"], sub.discovery_limit)
    return {"repoURL": sub.repo_url, "commits": [sel.tag_entry(t) for t in chosen]}


def compile_subscription(sub: GitSubscription) -> tuple[dict[str, Any], sel.TagRules | None]:
    """The subscription's filters and (for tag strategies) tag rules, checked before any
    git runs: a bad regex, glob, constraint or branch name raises ValueError."""
    if sub.branch:
        sel.check_branch_name(sub.branch)
    filters: dict[str, Any] = {
        "paths": sel.path_filter(sub.include_paths, sub.exclude_paths),
        "expression": sel.commit_filter(sub.expression_filter),
        "since": sel.since_timestamp(sub.since),
    }
    strategy = sub.commit_selection_strategy
    if strategy == "NewestFromBranch":
        if sub.semver_constraint:  # Kargo validates it whatever the strategy
            sel.tag_rules("SemVer", semver_constraint=sub.semver_constraint)
        return filters, None
    rules = sel.tag_rules(
        strategy,
        semver_constraint=sub.semver_constraint,
        strict_semvers=sub.strict_semvers,
        allow_regexes=sub.allow_tags_regexes,
        ignore_regexes=sub.ignore_tags_regexes,
        allow_tags=sub.allow_tags,
        ignore_tags=sub.ignore_tags,
    )
    return filters, rules


def discover(sub: GitSubscription) -> dict[str, Any]:
    """One discovery pass (blocking: run it in a thread)."""
    url = sub.repo_url
    where = f"git discovery of {redact_url(url)}"
    try:  # not option-like, an allowed transport, local repositories only when allowed
        check_remote_url(url)
    except GitError as e:
        raise discovery_error(f"{where}: {e}") from None
    try:
        filters, rules = compile_subscription(sub)
    except ValueError as e:
        raise discovery_error(f"git subscription {redact_url(url)}: {e}") from None
    try:
        with locked(mirror_dir(url)):
            g, fresh = sync_mirror(url, bool(sub.blobless), network_config(sub.insecure_skip_tls_verify))
            if rules is None:
                return _discover_branch(g, sub, fresh, **filters)
            return _discover_tags(g, sub, rules, **filters)
    except GitError as e:
        raise _git_failure(url, e) from None
    except CredentialsError as e:
        raise discovery_error(f"{where}: credential configuration: {e}") from None
    except ValueError as e:  # expressionFilter failing on a commit's data
        raise discovery_error(f"{where}: {e}") from None


@activity.defn(name="discover_git")
async def discover_git(request: DiscoveryRequest) -> dict[str, Any]:
    """Discover the commits of one git subscription (heartbeats while git runs)."""
    sub = _parse(request.subscription)
    activity.logger.info(
        "discover_git %s (%s/%s, %s)",
        redact_url(sub.repo_url), request.project, request.warehouse, sub.commit_selection_strategy,
    )
    result = await run_blocking(discover, sub)
    activity.logger.info("discover_git %s: %d commits", redact_url(sub.repo_url), len(result["commits"]))
    return result
