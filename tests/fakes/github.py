"""A loopback GitHub (Enterprise Server) for the pull-request steps: GitHub's REST API
(version 2022-11-28) for exactly the calls `activities.gitproviders.github` makes, under
`/api/v3` as GitHub Enterprise serves it, over the real bare repositories of `GitService`.

    with GitHubFake(tmp_path / "srv", token="t0ken") as gh:
        gh.add_repo("org/app", source)
        url = gh.repo_url("org/app")          # http://127.0.0.1:<port>/org/app.git, provider: github
        ...
        gh.merge("org/app", 1, by="reviewer") # a reviewer merges (real git)
        gh.rate_limit_status = 429            # rate limits as secondary limits (Retry-After)
        gh.rate_limit(1)

What GitHub answers, as documented (docs.github.com/rest/pulls, /rest/issues, /rest/branches):
bodies shaped like GitHub's; errors as ``{"message", "documentation_url"}`` (422
"Validation Failed" with an ``errors`` list); 404 "Not Found"; lists paginated by
``per_page`` (at most 100) and ``page`` with a ``Link`` header; the ``X-RateLimit-*`` headers
on every answer, and a rate limit as a 403 with ``X-RateLimit-Remaining: 0`` and
``X-RateLimit-Reset`` (primary) or a 429 with ``Retry-After`` (secondary).

The Git database calls (`git/ref`, `git/refs`, `git/commits`, `compare`) work on the real
bare repository. A commit created through the API with neither `author` nor `committer` is
made by the token's user and counts as signed by GitHub (`verification.verified`, as GitHub
signs such commits); one that names them is unsigned. Updating a ref to a commit that does
not descend from it without `force` is refused with 422 "Update is not a fast forward".

Merging a PR with checks still running (`PullRecord.pending_checks` > 0) is refused with 405
"Pull Request is not mergeable" (each refusal counts one check done); one whose branches
conflict in git with 409.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.gitservice import ApiError, GitService, PullRecord

DOCS = "https://docs.github.com/rest"
_REPO = r"/api/v3/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
ROUTES = [
    ("GET", re.compile(_REPO + r"/pulls"), "list_pulls"),
    ("POST", re.compile(_REPO + r"/pulls"), "create_pull"),
    ("GET", re.compile(_REPO + r"/pulls/(?P<number>\d+)"), "get_pull"),
    ("PUT", re.compile(_REPO + r"/pulls/(?P<number>\d+)/merge"), "merge_pull"),
    ("GET", re.compile(_REPO + r"/issues/(?P<number>\d+)"), "get_issue"),
    ("POST", re.compile(_REPO + r"/issues/(?P<number>\d+)/labels"), "add_labels"),
    ("GET", re.compile(_REPO + r"/branches/(?P<branch>.+)"), "get_branch"),
    # the Git database and compare calls github-push makes (docs.github.com/rest/git, /rest/commits)
    ("GET", re.compile(_REPO + r"/git/ref/(?P<ref>.+)"), "get_ref"),
    ("POST", re.compile(_REPO + r"/git/refs"), "create_ref"),
    ("PATCH", re.compile(_REPO + r"/git/refs/(?P<ref>.+)"), "update_ref"),
    ("DELETE", re.compile(_REPO + r"/git/refs/(?P<ref>.+)"), "delete_ref"),
    ("POST", re.compile(_REPO + r"/git/commits"), "create_commit"),
    ("GET", re.compile(_REPO + r"/git/commits/(?P<sha>[0-9a-f]{40})"), "get_commit"),
    ("GET", re.compile(_REPO + r"/compare/(?P<basehead>.+)"), "compare"),
]


def error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> ApiError:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
    if errors is not None:
        body["errors"] = errors
    return ApiError(status, body)


class GitHubFake(GitService):
    #: the login the token belongs to (who opens and merges through the API)
    login = "gantry-bot"
    #: how a rate limit is answered: 403 (primary limit: X-RateLimit-Remaining 0 and
    #: X-RateLimit-Reset) or 429 (secondary limit: Retry-After)
    rate_limit_status = 403
    #: seconds until the rate limit lifts, as the headers say
    rate_limit_wait = 42
    #: GitHub's largest page; a test lowers it to see paging
    max_per_page = 100
    #: False: answer list calls without the head/base filters, as GitHub does when it
    #: cannot read `head` (a test knob: it makes a provider's paging and own checks visible)
    list_filters = True

    def __init__(self, root: Path, token: str = "t0ken"):
        super().__init__(root, token)
        #: commits this fake "signed" (made through the API without author and committer)
        self.verified: set[str] = set()

    def _limits(self, remaining: int = 4999) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(time.time()) + self.rate_limit_wait),
            "X-RateLimit-Used": str(5000 - remaining),
            "X-RateLimit-Resource": "core",
        }

    def rate_limited_response(self) -> tuple[int, dict[str, str], Any]:
        if self.rate_limit_status == 429:
            body = {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": DOCS,
            }
            return 429, {**self._limits(), "Retry-After": str(self.rate_limit_wait)}, body
        body = {"message": f"API rate limit exceeded for user {self.login}.", "documentation_url": DOCS}
        return 403, self._limits(remaining=0), body

    def unauthorized(self) -> tuple[int, dict[str, str], Any]:
        return 401, {}, {"message": "Bad credentials", "documentation_url": DOCS}

    # -- routing ----------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        for verb, pattern, handler in ROUTES:
            m = pattern.fullmatch(path)
            if m and verb == method:
                args = {k: unquote(v) for k, v in m.groupdict().items()}
                repo = f"{args.pop('owner')}/{args.pop('name')}"
                if repo not in self.pulls or not self.bare(repo).exists():
                    raise error(404, "Not Found")
                try:
                    status, headers, payload = getattr(self, handler)(repo, query, body, **args)
                except ApiError as err:
                    err.headers = {**self._limits(), **err.headers}
                    raise
                return status, {**self._limits(), **headers}, payload
        raise error(404, "Not Found")

    # -- JSON as GitHub shapes it -----------------------------------------------------

    def pull_json(self, pr: PullRecord) -> dict[str, Any]:
        owner = pr.repo.split("/")[0]
        merged = pr.state == "merged"
        head_sha = self.head(pr.repo, pr.source) if self.branch_exists(pr.repo, pr.source) else None
        base_sha = self.head(pr.repo, pr.target) if self.branch_exists(pr.repo, pr.target) else None
        if pr.state == "open":
            conflicts = head_sha is not None and base_sha is not None and self.has_conflicts(pr.repo, pr)
            mergeable: bool | None = not conflicts
            mergeable_state = "dirty" if conflicts else ("blocked" if pr.pending_checks > 0 else "clean")
        else:
            mergeable, mergeable_state = None, "unknown"
        repo_json = {"full_name": pr.repo, "name": pr.repo.split("/")[1], "owner": {"login": owner}}
        return {
            "url": f"{self.base_url}/api/v3/repos/{pr.repo}/pulls/{pr.number}",
            "id": 1000 + pr.number,
            "number": pr.number,
            "html_url": f"{self.web_url(pr.repo)}/pull/{pr.number}",
            "state": "open" if pr.state == "open" else "closed",
            "locked": False,
            "title": pr.title,
            "body": pr.body or None,
            "user": {"login": pr.author},
            "labels": [{"name": name} for name in pr.labels],
            "draft": False,
            "created_at": pr.created_at,
            "closed_at": None if pr.state == "open" else pr.created_at,
            "merged_at": pr.created_at if merged else None,
            "merged": merged,
            "merge_commit_sha": pr.merge_commit if merged else None,
            "mergeable": mergeable,
            "mergeable_state": mergeable_state,
            "merged_by": {"login": pr.closed_by} if merged and pr.closed_by else None,
            "head": {"label": f"{owner}:{pr.source}", "ref": pr.source, "sha": head_sha, "repo": repo_json},
            "base": {"label": f"{owner}:{pr.target}", "ref": pr.target, "sha": base_sha, "repo": repo_json},
        }

    def _pull(self, repo: str, number: str) -> PullRecord:
        pr = self.find(repo, int(number))
        if pr is None:
            raise error(404, "Not Found")
        return pr

    # -- the endpoints ----------------------------------------------------------------

    def list_pulls(self, repo: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        arg = {k: v[-1] for k, v in query.items()}
        state = arg.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise error(422, "Validation Failed", [{"resource": "Issue", "field": "state", "code": "invalid"}])
        try:
            per_page = min(max(int(arg.get("per_page", 30)), 1), self.max_per_page)
            page = max(int(arg.get("page", 1)), 1)
        except ValueError:
            raise error(422, "Validation Failed") from None
        pulls = [p for p in self.prs(repo) if state == "all" or (p.state == "open") == (state == "open")]
        if self.list_filters and "head" in arg:
            owner, _, branch = arg["head"].partition(":")
            if branch:  # GitHub ignores a head not in user:ref form
                pulls = [p for p in pulls if owner.lower() == repo.split("/")[0].lower() and p.source == branch]
        if self.list_filters and "base" in arg:
            pulls = [p for p in pulls if p.target == arg["base"]]
        pulls.sort(key=lambda p: p.number, reverse=True)  # newest first, GitHub's default
        last = max(1, -(-len(pulls) // per_page))
        chunk = pulls[(page - 1) * per_page : page * per_page]
        headers = {}
        links = []

        def link(n: int, rel: str) -> str:
            q = {**arg, "per_page": str(per_page), "page": str(n)}
            return f'<{self.base_url}/api/v3/repos/{repo}/pulls?{urlencode(q)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        if links:
            headers["Link"] = ", ".join(links)
        return 200, headers, [self.pull_json(p) for p in chunk]

    def create_pull(self, repo: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        body = body if isinstance(body, dict) else {}
        missing = [f for f in ("title", "head", "base") if not body.get(f)]
        if missing:
            raise error(422, "Validation Failed", [{"resource": "PullRequest", "field": f, "code": "missing_field"} for f in missing])
        head, base = str(body["head"]), str(body["base"])
        if ":" in head:
            owner, _, head = head.partition(":")
            if owner.lower() != repo.split("/")[0].lower():
                raise error(422, "Validation Failed", [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        for field, branch in (("base", base), ("head", head)):
            if not self.branch_exists(repo, branch):
                raise error(422, "Validation Failed", [{"resource": "PullRequest", "field": field, "code": "invalid"}])
        with self.lock:
            if any(p.state == "open" and p.source == head and p.target == base for p in self.prs(repo)):
                message = f"A pull request already exists for {repo.split('/')[0]}:{head}."
                raise error(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom", "message": message}])
            pr = self.open(repo, head, base, str(body["title"]), str(body.get("body") or ""))
            pr.author = self.login
        return 201, {"Location": f"{self.base_url}/api/v3/repos/{repo}/pulls/{pr.number}"}, self.pull_json(pr)

    def get_pull(self, repo: str, query: dict[str, list[str]], body: Any, number: str) -> tuple[int, dict[str, str], Any]:
        return 200, {}, self.pull_json(self._pull(repo, number))

    def merge_pull(self, repo: str, query: dict[str, list[str]], body: Any, number: str) -> tuple[int, dict[str, str], Any]:
        body = body if isinstance(body, dict) else {}
        method = body.get("merge_method") or "merge"
        if method not in ("merge", "squash", "rebase"):
            raise error(422, "Validation Failed", [{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}])
        with self.lock:
            pr = self._pull(repo, number)
            if pr.state != "open":
                raise error(405, "Pull Request is not mergeable")
            if body.get("sha") and body["sha"] != self.head(repo, pr.source):
                raise error(409, "Head branch was modified. Review and try the merge again.")
            if pr.pending_checks > 0:
                pr.pending_checks -= 1
                raise error(405, "Pull Request is not mergeable")
            if self.has_conflicts(repo, pr):
                raise error(409, "Merge conflict")
            self.merge(repo, pr.number, method=method, by=self.login)
        return 200, {}, {"sha": pr.merge_commit, "merged": True, "message": "Pull Request successfully merged"}

    def get_issue(self, repo: str, query: dict[str, list[str]], body: Any, number: str) -> tuple[int, dict[str, str], Any]:
        pr = self._pull(repo, number)
        return 200, {}, {
            "number": pr.number,
            "html_url": f"{self.web_url(repo)}/pull/{pr.number}",
            "state": "open" if pr.state == "open" else "closed",
            "state_reason": {"open": None, "merged": "completed", "closed": "not_planned"}[pr.state],
            "title": pr.title,
            "user": {"login": pr.author},
            "labels": [{"name": name} for name in pr.labels],
            "closed_by": {"login": pr.closed_by} if pr.state != "open" and pr.closed_by else None,
            "pull_request": {"url": f"{self.base_url}/api/v3/repos/{repo}/pulls/{pr.number}", "html_url": f"{self.web_url(repo)}/pull/{pr.number}"},
        }

    def add_labels(self, repo: str, query: dict[str, list[str]], body: Any, number: str) -> tuple[int, dict[str, str], Any]:
        labels = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise error(422, "Validation Failed", [{"resource": "Label", "field": "labels", "code": "invalid"}])
        with self.lock:
            pr = self._pull(repo, number)
            pr.labels += [x for x in labels if x not in pr.labels]
            return 200, {}, [{"name": name, "default": False} for name in pr.labels]

    def get_branch(self, repo: str, query: dict[str, list[str]], body: Any, branch: str) -> tuple[int, dict[str, str], Any]:
        if not self.branch_exists(repo, branch):
            raise error(404, "Branch not found")
        sha = self.head(repo, branch)
        return 200, {}, {"name": branch, "commit": {"sha": sha, "url": f"{self.base_url}/api/v3/repos/{repo}/commits/{sha}"}, "protected": False}

    # -- the Git database (github-push) ---------------------------------------------------

    def _run(self, repo: str, args: tuple[str, ...], env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=self.bare(repo), capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})})

    def _git(self, repo: str, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        done = self._run(repo, args, env)
        if check and done.returncode != 0:
            raise error(422, f"git {args[0]} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def _ok(self, repo: str, *args: str) -> bool:
        return self._run(repo, args, None).returncode == 0

    def _sha_of(self, repo: str, ref: str) -> str | None:
        out = self._git(repo, "rev-parse", "--verify", "-q", f"refs/{ref}^{{commit}}", check=False)
        return out or None

    def get_ref(self, repo: str, query: dict[str, list[str]], body: Any, ref: str) -> tuple[int, dict[str, str], Any]:
        sha = self._sha_of(repo, ref)
        if sha is None:
            raise error(404, "Not Found")
        return 200, {}, {"ref": f"refs/{ref}", "object": {"sha": sha, "type": "commit"}}

    def create_ref(self, repo: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        ref, sha = str((body or {}).get("ref", "")), str((body or {}).get("sha", ""))
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise error(422, "Reference name must start with 'refs/' and have at least two slashes.")
        with self.lock:
            if self._sha_of(repo, ref[len("refs/"):]):
                raise error(422, "Reference already exists")
            self._git(repo, "update-ref", ref, sha)
        return 201, {}, {"ref": ref, "object": {"sha": sha, "type": "commit"}}

    def update_ref(self, repo: str, query: dict[str, list[str]], body: Any, ref: str) -> tuple[int, dict[str, str], Any]:
        sha, force = str((body or {}).get("sha", "")), bool((body or {}).get("force"))
        with self.lock:
            old = self._sha_of(repo, ref)
            if old is None:
                raise error(422, "Reference does not exist")
            if not force and not self._ok(repo, "merge-base", "--is-ancestor", old, sha):
                raise error(422, "Update is not a fast forward")
            self._git(repo, "update-ref", f"refs/{ref}", sha)
        return 200, {}, {"ref": f"refs/{ref}", "object": {"sha": sha, "type": "commit"}}

    def delete_ref(self, repo: str, query: dict[str, list[str]], body: Any, ref: str) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            if self._sha_of(repo, ref) is None:
                raise error(422, "Reference does not exist")
            self._git(repo, "update-ref", "-d", f"refs/{ref}")
        return 204, {}, None

    def _commit_json(self, repo: str, sha: str) -> dict[str, Any]:
        fields = self._git(repo, "show", "-s", "--format=%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B", sha).split("\n")
        tree, parents, an, ae, ad, cn, ce, cd = fields[:8]
        verified = sha in self.verified
        return {
            "sha": sha,
            "tree": {"sha": tree},
            "message": "\n".join(fields[8:]).rstrip("\n"),
            "author": {"name": an, "email": ae, "date": ad},
            "committer": {"name": cn, "email": ce, "date": cd},
            "parents": [{"sha": p} for p in parents.split()],
            "verification": {"verified": verified, "reason": "valid" if verified else "unsigned"},
        }

    def create_commit(self, repo: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        body = body if isinstance(body, dict) else {}
        if not body.get("tree") or "message" not in body:
            raise error(422, "Invalid request.", [{"resource": "Commit", "field": "tree", "code": "missing_field"}])
        author, committer = body.get("author"), body.get("committer")
        me = {"name": self.login, "email": f"{self.login}@users.noreply.github.com"}
        who_a, who_c = author or committer or me, committer or author or me
        env = {"GIT_AUTHOR_NAME": who_a["name"], "GIT_AUTHOR_EMAIL": who_a["email"],
               "GIT_COMMITTER_NAME": who_c["name"], "GIT_COMMITTER_EMAIL": who_c["email"]}
        if who_a.get("date"):
            env["GIT_AUTHOR_DATE"] = who_a["date"]
        args = ["commit-tree", str(body["tree"]), "-m", str(body["message"])]
        for parent in body.get("parents") or []:
            args += ["-p", str(parent)]
        with self.lock:
            sha = self._git(repo, *args, env=env)
            if not author and not committer:
                self.verified.add(sha)
            return 201, {}, self._commit_json(repo, sha)

    def get_commit(self, repo: str, query: dict[str, list[str]], body: Any, sha: str) -> tuple[int, dict[str, str], Any]:
        if not self._git(repo, "cat-file", "-t", sha, check=False) == "commit":
            raise error(404, "Not Found")
        return 200, {}, self._commit_json(repo, sha)

    def compare(self, repo: str, query: dict[str, list[str]], body: Any, basehead: str) -> tuple[int, dict[str, str], Any]:
        base, sep, head = basehead.partition("...")
        if not sep:
            raise error(404, "Not Found")
        resolved = []
        for name in (base, head):
            sha = self._git(repo, "rev-parse", "--verify", "-q", f"{name}^{{commit}}", check=False)
            if not sha:
                raise error(404, "Not Found")
            resolved.append(sha)
        b, h = resolved
        merge_base = self._git(repo, "merge-base", b, h)
        ahead = int(self._git(repo, "rev-list", "--count", f"{b}..{h}"))
        behind = int(self._git(repo, "rev-list", "--count", f"{h}..{b}"))
        status = "identical" if not ahead and not behind else "ahead" if not behind else "behind" if not ahead else "diverged"
        shas = self._git(repo, "rev-list", "--reverse", "--topo-order", f"{b}..{h}").split()
        commits = []
        for sha in shas:
            c = self._commit_json(repo, sha)
            commits.append({"sha": sha, "commit": {k: c[k] for k in ("message", "tree", "author", "committer", "verification")},
                            "parents": c["parents"]})
        return 200, {}, {"status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
                         "merge_base_commit": {"sha": merge_base}, "commits": commits}
