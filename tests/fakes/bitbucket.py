"""A loopback Bitbucket Cloud: the REST API 2.0 pull-request, branch, commit and commit-status
paths the provider uses, over real bare repositories (`tests.fakes.gitservice`).

    with BitbucketFake(tmp_path / "bb", token="tok") as bb:
        bb.add_repo("team/app", source)      # served at bb.repo_url("team/app") (…/team/app.git)
        # the step config says provider: bitbucket; the API is <origin>/2.0/repositories/team/app/...

What it follows of the service (developer.atlassian.com, "Pullrequests", "Refs", "Commits",
"Commit statuses"):

* `/2.0/repositories/{workspace}/{repo_slug}/pullrequests`: POST creates (201; `title` and
  `source.branch.name` required, `destination` defaults to the main branch); GET lists with
  `state` (repeatable, default OPEN), `q` (BBQL: `field = "value"` clauses joined by AND, on
  `source.branch.name`, `destination.branch.name`, `state`, `id`), `pagelen` (default 10, at
  most 50) and `page`, answering `{"pagelen", "size", "page", "values", "next"}`.
* `.../pullrequests/{id}` GET; `.../pullrequests/{id}/merge` POST with `merge_strategy`
  (`merge_commit`, `squash`, `fast_forward`, `rebase_fast_forward`) merges in git and answers
  200 with the PR; 409 when the branches conflict; `fast_forward` is refused once the
  destination has moved on; refused while a build runs (as with enforced merge checks).
* `.../pullrequests/{id}/statuses`: one build `INPROGRESS` while `PullRecord.pending_checks`
  says checks run (each look counts one), `SUCCESSFUL` after; none for a PR never held.
* `.../refs/branches/{name}` and `.../commit/{hash}`: 200 or 404.
* `merge_commit.hash` and `source.commit.hash` are abbreviated (12 hex digits), as Bitbucket
  gives them.
* Errors are `{"type": "error", "error": {"message": ...}}`; 401 without the token; 429 with
  Retry-After when rate-limited.

Not documented by Bitbucket, so the fake's own choice: a second PR between the same two
branches answers with the open one (updated with the new title and description); messages
the docs do not quote are the fake's own wording.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.gitservice import ApiError, GitService, PullRecord, git

_PATH = re.compile(r"/2\.0/repositories/([^/]+)/([^/]+)(?:/(.*))?")
_STATE = {"open": "OPEN", "merged": "MERGED", "closed": "DECLINED"}
_CLAUSE = re.compile(r'\s*([a-z_.]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')
STRATEGIES = {"merge_commit": "merge", "squash": "squash", "fast_forward": "rebase", "rebase_fast_forward": "rebase"}
SHORT = 12


def error(message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error": {"message": message, **extra}}


def user(name: str) -> dict[str, Any]:
    return {
        "type": "user", "display_name": name, "nickname": name.lower().replace(" ", "-"),
        "uuid": "{" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.fake.test")) + "}",
        "account_id": uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.fake.test").hex[:24],
    }  # fmt: skip


def parse_bbql(q: str) -> list[tuple[str, str]]:
    """`a.b = "x" AND c = "y"` -> [("a.b", "x"), ("c", "y")]; ApiError 400 otherwise."""
    clauses: list[tuple[str, str]] = []
    for part in re.split(r"\s+AND\s+", q.strip(), flags=re.IGNORECASE) if q.strip() else []:
        m = _CLAUSE.fullmatch(part)
        if not m:
            raise ApiError(400, error(f"Invalid query: {q}"))
        clauses.append((m.group(1), re.sub(r"\\(.)", r"\1", m.group(2))))
    return clauses


class BitbucketFake(GitService):
    """Bitbucket Cloud's API at `<base_url>/2.0`, its git remotes at `<base_url>/<ws>/<repo>.git`."""

    #: who the token belongs to: the author and merger of what the API does
    user = "Gantry Bot"

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.authors: dict[tuple[str, int], str] = {}
        self.heads: dict[tuple[str, int], str] = {}  # the source commit a merged PR had
        self.held: set[tuple[str, int]] = set()  # PRs whose checks were ever running

    def unauthorized(self) -> tuple[int, dict[str, str], Any]:
        return 401, {}, error("Token is invalid, expired, or not supported for this endpoint.")

    def rate_limited_response(self) -> tuple[int, dict[str, str], Any]:
        headers = {"Retry-After": "5", "X-RateLimit-Limit": "1000", "X-RateLimit-Resource": "api"}
        return 429, headers, error("Rate limit for this resource has been exceeded")

    # -- reviewer actions (tests call these) -------------------------------------------

    def merge(self, repo: str, number: int, *, method: str = "merge", by: str = "reviewer") -> PullRecord:
        with self.lock:
            pr = self.find(repo, number)
            assert pr is not None
            head = self.head(repo, pr.source)
            done = super().merge(repo, number, method=method, by=by)
            self.heads[(repo, number)] = head
            return done

    # -- the API -----------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        m = _PATH.fullmatch(path)
        if not m:
            raise ApiError(404, error(f"Resource not found: {path}"))
        repo = f"{unquote(m.group(1))}/{unquote(m.group(2))}"
        rest = m.group(3) or ""
        with self.lock:
            if repo not in self.pulls:
                raise ApiError(404, error(f"Repository {repo} not found"))
            parts = [unquote(s) for s in rest.split("/")]
            if rest == "pullrequests":
                if method == "POST":
                    return self._create(repo, body or {})
                if method == "GET":
                    return self._list(repo, path, query)
            elif parts[0] == "pullrequests" and len(parts) in (2, 3) and parts[1].isdigit():
                pr = self.find(repo, int(parts[1]))
                if pr is None:
                    raise ApiError(404, error(f"Pull request {parts[1]} not found"))
                action = parts[2] if len(parts) == 3 else ""
                if action == "" and method == "GET":
                    return 200, {}, self.pr_json(pr)
                if action == "merge" and method == "POST":
                    return self._merge(repo, pr, body or {})
                if action == "statuses" and method == "GET":
                    return 200, {}, self._statuses(pr)
            elif rest.startswith("refs/branches/") and method == "GET":
                name = unquote(rest.removeprefix("refs/branches/"))
                if not self.branch_exists(repo, name):
                    raise ApiError(404, error(f"Branch not found: {name}"))
                return 200, {}, {"type": "branch", "name": name, "target": {"type": "commit", "hash": self.head(repo, name)}}
            elif parts[0] == "commit" and len(parts) == 2 and method == "GET":
                full = self._resolve(repo, parts[1])
                if full is None:
                    raise ApiError(404, error(f"Commit not found: {parts[1]}"))
                return 200, {}, {"type": "commit", "hash": full}
            raise ApiError(404, error(f"Resource not found: {path}"))

    def _resolve(self, repo: str, rev: str) -> str | None:
        if not re.fullmatch(r"[0-9a-f]{4,40}", rev):
            return None
        done = git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", cwd=self.bare(repo), check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def _main_branch(self, repo: str) -> str:
        return git("symbolic-ref", "--short", "HEAD", cwd=self.bare(repo)).stdout.strip()

    def _create(self, repo: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        title = str(body.get("title") or "")
        source = str(((body.get("source") or {}).get("branch") or {}).get("name") or "")
        target = str(((body.get("destination") or {}).get("branch") or {}).get("name") or "") or self._main_branch(repo)
        if not title:
            raise ApiError(400, error("Bad request", fields={"title": ["This field is required."]}))
        for field, branch in (("source", source), ("destination", target)):
            if not branch or not self.branch_exists(repo, branch):
                raise ApiError(400, error("Bad request", fields={field: [f"Branch not found: {branch}"]}))
        if source == target:
            raise ApiError(400, error("Bad request", fields={"destination": ["The source and destination are the same branch."]}))
        for pr in self.prs(repo):
            if pr.state == "open" and pr.source == source and pr.target == target:
                pr.title, pr.body = title, str(body.get("description") or "")
                return 201, {}, self.pr_json(pr)
        pr = self.open(repo, source, target, title, str(body.get("description") or ""))
        self.authors[(repo, pr.number)] = self.user
        return 201, {"Location": self._api_url(pr)}, self.pr_json(pr)

    def _list(self, repo: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        states = query.get("state") or ["OPEN"]
        clauses = parse_bbql((query.get("q") or [""])[0])
        try:
            pagelen = min(50, max(1, int((query.get("pagelen") or ["10"])[0])))
            page = max(1, int((query.get("page") or ["1"])[0]))
        except ValueError:
            raise ApiError(400, error("Invalid pagelen or page")) from None

        def field(pr: PullRecord, name: str) -> str:
            values = {"source.branch.name": pr.source, "destination.branch.name": pr.target, "state": _STATE[pr.state], "id": str(pr.number)}
            if name not in values:
                raise ApiError(400, error(f"Invalid field name: {name}"))
            return values[name]

        chosen = [
            p for p in sorted(self.prs(repo), key=lambda p: -p.number)
            if _STATE[p.state] in states and all(field(p, k) == v for k, v in clauses)
        ]  # fmt: skip
        start = (page - 1) * pagelen
        data: dict[str, Any] = {
            "pagelen": pagelen, "size": len(chosen), "page": page,
            "values": [self.pr_json(p) for p in chosen[start : start + pagelen]],
        }  # fmt: skip
        if start + pagelen < len(chosen):
            args = [(k, v) for k, vs in query.items() if k != "page" for v in vs] + [("page", str(page + 1))]
            data["next"] = f"{self.base_url}{path}?{urlencode(args)}"
        return 200, {}, data

    def _statuses(self, pr: PullRecord) -> dict[str, Any]:
        key = (pr.repo, pr.number)
        if pr.pending_checks > 0:
            pr.pending_checks -= 1
            self.held.add(key)
            state = "INPROGRESS"
        elif key in self.held:
            state = "SUCCESSFUL"
        else:
            return {"pagelen": 10, "size": 0, "page": 1, "values": []}
        status = {"type": "build", "key": "ci", "name": "CI", "state": state, "url": f"{self.base_url}/ci/{pr.number}"}
        return {"pagelen": 10, "size": 1, "page": 1, "values": [status]}

    def _merge(self, repo: str, pr: PullRecord, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        strategy = str(body.get("merge_strategy") or "merge_commit")
        if strategy not in STRATEGIES:
            raise ApiError(400, error(f"merge_strategy {strategy!r} is not supported by this fake"))
        if pr.state != "open":
            raise ApiError(400, error("You can't merge a pull request that isn't open."))
        if pr.pending_checks > 0:
            raise ApiError(400, error("Merge checks failed: a build is in progress."))
        if self.has_conflicts(repo, pr):
            raise ApiError(409, error("Merge conflicts: resolve them before merging."))
        if strategy == "fast_forward":
            ancestor = git("merge-base", "--is-ancestor", f"refs/heads/{pr.target}", f"refs/heads/{pr.source}", cwd=self.bare(repo), check=False)
            if ancestor.returncode != 0:
                raise ApiError(400, error(f"Fast-forward merge not possible: {pr.target} has commits {pr.source} lacks."))
        self.merge(repo, pr.number, method=STRATEGIES[strategy], by=self.user)
        return 200, {}, self.pr_json(pr)

    # -- JSON ------------------------------------------------------------------------

    def _api_url(self, pr: PullRecord) -> str:
        return f"{self.base_url}/2.0/repositories/{pr.repo}/pullrequests/{pr.number}"

    def pr_json(self, pr: PullRecord) -> dict[str, Any]:
        workspace, slug = pr.repo.split("/")
        repository = {"type": "repository", "full_name": pr.repo, "name": slug}
        source = self.heads.get((pr.repo, pr.number)) or self.head(pr.repo, pr.source)
        data: dict[str, Any] = {
            "type": "pullrequest", "id": pr.number, "title": pr.title, "description": pr.body,
            "summary": {"type": "rendered", "raw": pr.body, "markup": "markdown"},
            "state": _STATE[pr.state],
            "author": user(self.authors.get((pr.repo, pr.number), pr.author)),
            "source": {"branch": {"name": pr.source}, "commit": {"type": "commit", "hash": source[:SHORT]}, "repository": repository},
            "destination": {
                "branch": {"name": pr.target},
                "commit": {"type": "commit", "hash": self.head(pr.repo, pr.target)[:SHORT]},
                "repository": repository,
            },
            "merge_commit": {"type": "commit", "hash": pr.merge_commit[:SHORT]} if pr.merge_commit else None,
            "closed_by": user(pr.closed_by) if pr.closed_by else None,
            "close_source_branch": False, "draft": False, "reason": "",
            "comment_count": 0, "task_count": 0,
            "created_on": pr.created_at, "updated_on": pr.created_at,
            "links": {
                "self": {"href": self._api_url(pr)},
                "html": {"href": f"{self.base_url}/{workspace}/{slug}/pull-requests/{pr.number}"},
            },
        }  # fmt: skip
        return data
