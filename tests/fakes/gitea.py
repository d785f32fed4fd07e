"""A loopback Gitea / Forgejo (REST API v1) for the pull-request paths Gantry uses, over real repos.

    with GiteaFake(tmp_path / "gt", token="s3cret") as gt:
        gt.add_repo("org/app", source)            # served at gt.repo_url("org/app")
        ...                                        # the code under test opens a PR
        gt.merge("org/app", 1, by="reviewer")     # a reviewer merges (a real git merge)

Paths, under `/api/v1/repos/{owner}/{repo}`:

* `POST pulls` (head, base, title, body, labels as label ids; unknown ids are ignored, as
  Gitea does) -> 201; 409 "pull request already exists for these targets [...]" when an
  open one joins the same branches, 422 when head == base, 404 for a missing branch.
* `GET pulls?state=open|closed|all&page&limit`: newest first, `limit` capped at
  `max_items` (Gitea's `MAX_RESPONSE_ITEMS`, 50), `X-Total-Count` and `Link` headers.
* `GET pulls/{index}`: `mergeable` is false while `PullRecord.pending_checks` lasts (each
  read uses one up) and on conflicts, as Gitea says both alike.
* `POST pulls/{index}/merge` {"Do": merge|rebase|squash, "head_commit_id"}: 200 with no body;
  405 "Please try again later" while not mergeable (checks, conflicts), 405 when merged
  already, 404 when closed, 409 "head out of date" when head_commit_id is not the head.
* `GET branches/{branch}` (slashes and all) -> 200 or 404.
* `GET labels`, `POST labels` {name, color}: the repository's labels (`add_label` seeds one).
* `GET issues/{index}/timeline`: a `close` event naming who closed it, `merge_pull` for a merge.

Errors are `{"message": ..., "url": <swagger URL>}`; a rate-limited call (a proxy in front of
Gitea) gets 429 with `Retry-After`.
"""

from __future__ import annotations

import itertools
import re
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.gitservice import ApiError, GitService, PullRecord, git

PREFIX = "/api/v1"
COLOR = re.compile(r"^#?[0-9a-fA-F]{6}$")



class GiteaFake(GitService):
    #: Gitea's `[api] MAX_RESPONSE_ITEMS`; a test may lower it to see paging
    max_items = 50
    #: `[api] DEFAULT_PAGING_NUM`
    default_items = 30
    rate_limit_wait = 30
    token_user = "gantry"

    def __init__(self, root: Path, token: str = "t0ken"):
        super().__init__(root, token)
        self.labels: dict[str, list[dict[str, Any]]] = {}
        self._label_ids = itertools.count(1)
        self._repo_ids: dict[str, int] = {}

    @property
    def swagger(self) -> str:
        return f"{self.base_url}/api/swagger"

    def _error(self, status: int, message: str, **extra: Any) -> ApiError:
        return ApiError(status, {"message": message, "url": self.swagger, **extra})

    def rate_limited_response(self) -> tuple[int, dict[str, str], Any]:
        return 429, {"Retry-After": str(self.rate_limit_wait)}, {"message": "Too Many Requests", "url": self.swagger}

    def unauthorized(self) -> tuple[int, dict[str, str], Any]:
        return 401, {}, {"message": "token is required", "url": self.swagger}

    # -- bookkeeping ------------------------------------------------------------------

    def add_repo(self, repo: str, source: Path) -> Path:
        bare = super().add_repo(repo, source)
        with self.lock:
            self._repo_ids.setdefault(repo, len(self._repo_ids) + 1)
            self.labels.setdefault(repo, [])
        return bare

    def add_label(self, repo: str, name: str, color: str = "#e11d21") -> dict[str, Any]:
        with self.lock:
            number = next(self._label_ids)
            label = {
                "id": number, "name": name, "color": color.lstrip("#").lower(), "description": "",
                "exclusive": False, "is_archived": False, "url": f"{self.base_url}{PREFIX}/repos/{repo}/labels/{number}",
            }  # fmt: skip
            self.labels.setdefault(repo, []).append(label)
            return label

    def pr_url(self, repo: str, number: int) -> str:
        return f"{self.web_url(repo)}/pulls/{number}"

    def _user(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        return {
            "id": zlib.crc32(name.encode()) % 10_000 + 1, "login": name, "login_name": "", "full_name": name.title(),
            "email": f"{name}@noreply.localhost", "avatar_url": "", "html_url": f"{self.base_url}/{name}",
            "username": name,
        }  # fmt: skip

    def _heads(self, repo: str) -> dict[str, str]:
        out = git("for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads", cwd=self.bare(repo)).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def _mergeable(self, repo: str, pr: PullRecord, *, use_check: bool) -> bool:
        if pr.state != "open":
            return False
        if pr.pending_checks > 0:
            if use_check:
                pr.pending_checks -= 1
            return False
        return self.branch_exists(repo, pr.source) and not self.has_conflicts(repo, pr)

    def _pull(self, repo: str, pr: PullRecord, heads: dict[str, str], mergeable: bool) -> dict[str, Any]:
        rid = self._repo_ids[repo]
        owner, name = repo.split("/", 1)
        repo_json = {
            "id": rid, "name": name, "full_name": repo, "owner": self._user(owner), "private": False,
            "html_url": self.web_url(repo), "clone_url": self.repo_url(repo), "default_branch": "main",
        }  # fmt: skip
        by_name = {label["name"]: label for label in self.labels.get(repo, [])}
        when = pr.closed_at
        merged = pr.state == "merged"
        return {
            "id": rid * 100_000 + pr.number,
            "url": f"{self.base_url}{PREFIX}/repos/{repo}/pulls/{pr.number}",
            "number": pr.number,
            "user": self._user(pr.author),
            "title": pr.title,
            "body": pr.body,
            "labels": [by_name[n] for n in pr.labels if n in by_name],
            "milestone": None,
            "assignee": None,
            "assignees": None,
            "requested_reviewers": None,
            "state": "open" if pr.state == "open" else "closed",
            "draft": False,
            "is_locked": False,
            "comments": 0,
            "html_url": self.pr_url(repo, pr.number),
            "diff_url": f"{self.pr_url(repo, pr.number)}.diff",
            "patch_url": f"{self.pr_url(repo, pr.number)}.patch",
            "mergeable": mergeable,
            "merged": merged,
            "merged_at": when if merged else None,
            "merge_commit_sha": pr.merge_commit if merged else None,
            "merged_by": self._user(pr.closed_by) if merged else None,
            "allow_maintainer_edit": False,
            "base": {"label": pr.target, "ref": pr.target, "sha": heads.get(pr.target, ""), "repo_id": rid, "repo": repo_json},
            "head": {"label": pr.source, "ref": pr.source, "sha": heads.get(pr.source, ""), "repo_id": rid, "repo": repo_json},
            "merge_base": "",
            "due_date": None,
            "created_at": pr.created_at,
            "updated_at": when or pr.created_at,
            "closed_at": when if pr.state != "open" else None,
            "pin_order": 0,
        }

    # -- the API ----------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        m = re.match(rf"^{PREFIX}/repos/([^/]+)/([^/]+)/(.+)$", path)
        if not m:
            raise self._error(404, "The target couldn't be found.", errors=[])
        repo = f"{unquote(m[1])}/{unquote(m[2])}"
        if repo not in self._repo_ids:
            raise self._error(404, "The target couldn't be found.", errors=[])
        rest = [unquote(p) for p in m[3].split("/")]
        q = {k: v[-1] for k, v in query.items()}
        body = body if isinstance(body, dict) else {}
        with self.lock:
            if rest == ["pulls"] and method == "GET":
                return self._list(repo, path, q)
            if rest == ["pulls"] and method == "POST":
                return self._create(repo, body)
            if len(rest) == 2 and rest[0] == "pulls" and method == "GET":
                pr = self._find(repo, rest[1])
                return 200, {}, self._pull(repo, pr, self._heads(repo), self._mergeable(repo, pr, use_check=True))
            if len(rest) == 3 and rest[0] == "pulls" and rest[2] == "merge" and method == "POST":
                return self._merge(repo, self._find(repo, rest[1]), body)
            if len(rest) >= 2 and rest[0] == "branches" and method == "GET":
                return self._branch(repo, "/".join(rest[1:]))
            if rest == ["labels"] and method == "GET":
                return self._paged(path, q, list(self.labels.get(repo, [])))
            if rest == ["labels"] and method == "POST":
                return self._create_label(repo, body)
            if len(rest) == 3 and rest[0] == "issues" and rest[2] == "timeline" and method == "GET":
                return self._timeline(repo, path, q, self._find(repo, rest[1]))
        raise self._error(404, "The target couldn't be found.", errors=[])

    def _find(self, repo: str, index: str) -> PullRecord:
        pr = self.find(repo, int(index)) if index.isdigit() else None
        if pr is None:
            raise self._error(404, "The target couldn't be found.", errors=[])
        return pr

    def _paged(self, path: str, q: dict[str, str], items: list[Any]) -> tuple[int, dict[str, str], Any]:
        try:
            page = max(1, int(q.get("page", "1")))
            limit = int(q.get("limit", "0")) or self.default_items
        except ValueError:
            raise self._error(422, "page and limit must be numbers") from None
        limit = min(max(1, limit), self.max_items)
        pages = max(1, -(-len(items) // limit))

        def link(n: int) -> str:
            return f"{self.base_url}{path}?{urlencode({**q, 'limit': limit, 'page': n})}"

        links = []
        if page < pages:
            links += [f'<{link(page + 1)}>; rel="next"', f'<{link(pages)}>; rel="last"']
        if page > 1:
            links += [f'<{link(1)}>; rel="first"', f'<{link(page - 1)}>; rel="prev"']
        headers = {"X-Total-Count": str(len(items)), "Access-Control-Expose-Headers": "X-Total-Count, Link"}
        if links:
            headers["Link"] = ",".join(links)
        return 200, headers, items[(page - 1) * limit : page * limit]

    def _list(self, repo: str, path: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise self._error(422, "state: must be one of open, closed, all")
        pulls = [
            p for p in reversed(self.pulls.get(repo, []))
            if state == "all" or (p.state == "open") == (state == "open")
        ]  # fmt: skip
        status, headers, chunk = self._paged(path, q, pulls)
        heads = self._heads(repo)
        return status, headers, [self._pull(repo, p, heads, self._mergeable(repo, p, use_check=False)) for p in chunk]

    def _create(self, repo: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        head, base, title = str(body.get("head") or ""), str(body.get("base") or ""), str(body.get("title") or "")
        if not head or not base or not title:
            missing = [f for f, v in (("Head", head), ("Base", base), ("Title", title)) if not v]
            raise self._error(422, f"[{missing[0]}]: Required")
        if head == base:
            raise self._error(422, "Invalid PullRequest: There are no changes between the head and the base")
        if not self.branch_exists(repo, head) or not self.branch_exists(repo, base):
            raise self._error(404, "The target couldn't be found.", errors=[])
        rid = self._repo_ids[repo]
        for p in self.pulls.get(repo, []):
            if p.state == "open" and p.source == head and p.target == base:
                raise self._error(
                    409,
                    f"pull request already exists for these targets [id: {rid * 100_000 + p.number}, issue_id: {p.number}, "
                    f"head_repo_id: {rid}, base_repo_id: {rid}, head_branch: {head}, base_branch: {base}]",
                )
        ids = {label["id"]: label["name"] for label in self.labels.get(repo, [])}
        names = [ids[i] for i in body.get("labels") or [] if i in ids]
        pr = self.open(repo, head, base, title, str(body.get("body") or ""), list(dict.fromkeys(names)))
        pr.author = self.token_user
        return 201, {}, self._pull(repo, pr, self._heads(repo), False)  # just opened: still being checked

    def _merge(self, repo: str, pr: PullRecord, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        style = body.get("Do")
        if style not in ("merge", "rebase", "squash"):
            raise self._error(422, "[Do]: In")
        if pr.state == "closed":
            raise self._error(404, "The target couldn't be found.", errors=[])
        if pr.state == "merged":
            raise self._error(405, "")
        if not self._mergeable(repo, pr, use_check=False):
            raise self._error(405, "Please try again later")
        if body.get("head_commit_id") and body["head_commit_id"] != self.head(repo, pr.source):
            raise self._error(409, "head out of date")
        self.merge(repo, pr.number, method=style, by=self.token_user)
        return 200, {}, None

    def _branch(self, repo: str, branch: str) -> tuple[int, dict[str, str], Any]:
        if not self.branch_exists(repo, branch):
            raise self._error(404, "The target couldn't be found.", errors=[f"branch does not exist [name: {branch}]"])
        sha = self.head(repo, branch)
        subject = git("log", "-1", "--format=%s", sha, cwd=self.bare(repo)).stdout.strip()
        return 200, {}, {
            "name": branch,
            "commit": {"id": sha, "message": subject + "\n", "url": f"{self.web_url(repo)}/commit/{sha}"},
            "protected": False,
            "required_approvals": 0,
            "enable_status_check": False,
            "user_can_push": True,
            "user_can_merge": True,
        }

    def _create_label(self, repo: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        name, color = str(body.get("name") or ""), str(body.get("color") or "")
        if not name:
            raise self._error(422, "[Name]: Required")
        if not COLOR.match(color):
            raise self._error(422, "[Color]: Invalid color")
        return 201, {}, self.add_label(repo, name, color)

    def _timeline(self, repo: str, path: str, q: dict[str, str], pr: PullRecord) -> tuple[int, dict[str, str], Any]:
        events: list[dict[str, Any]] = []
        when = pr.closed_at or pr.created_at
        if pr.state == "closed":
            events.append({"id": pr.number * 10, "type": "close", "body": "", "user": self._user(pr.closed_by), "created_at": when})
        elif pr.state == "merged":
            events.append({"id": pr.number * 10, "type": "merge_pull", "body": "", "user": self._user(pr.closed_by), "created_at": when})
        return self._paged(path, q, events)
