"""A loopback GitLab (REST API v4) for the merge-request paths Gantry uses, over real repos.

    with GitLabFake(tmp_path / "gl", token="glpat-x") as gl:
        gl.add_repo("group/sub/app", source)                  # served at gl.repo_url("group/sub/app")
        ...                                                    # the code under test opens an MR
        gl.merge("group/sub/app", 1, by="reviewer")           # a reviewer merges (a real git merge)

Paths, under `/api/v4`, with the project as its URL-encoded path (`group%2Fsub%2Fapp`) or its
numeric id (`project_id(repo)`):

* `POST /projects/:id/merge_requests` (source_branch, target_branch, title, description,
  labels as a comma-separated string or a list) -> 201; 409 when an open MR between the two
  branches exists ("Another open merge request already exists for this source branch: !1"),
  422 for a missing branch or source == target, 400 for a missing required field.
* `GET /projects/:id/merge_requests` (state, source_branch, target_branch, page, per_page):
  newest first, `X-Page`/`X-Next-Page`/`X-Total`... and `Link` headers.
* `GET /projects/:id/merge_requests/:iid`: `detailed_merge_status` `mergeable`, `conflict`, or
  `ci_still_running` while `PullRecord.pending_checks` lasts (each read uses one up).
* `PUT /projects/:id/merge_requests/:iid/merge` (squash, sha): 200 and the merged MR; 405
  when not open or checks are running, 422 "Branch cannot be merged" on conflicts, 409 when
  `sha` is not the source branch's head.
* `GET /projects/:id/repository/branches/:branch` -> 200, or 404 "404 Branch Not Found".

Errors are `{"message": ...}` as GitLab sends them; a rate-limited call gets 429 with
`Retry-After` (unless `send_retry_after` is off) and `RateLimit-*` headers and GitLab's
plain-text "Retry later".
"""

from __future__ import annotations

import time
import zlib
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.gitservice import ApiError, GitService, PullRecord, git

PREFIX = "/api/v4"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class GitLabFake(GitService):
    #: GitLab's largest page; a test may lower it to see paging
    max_per_page = 100
    #: seconds a rate-limited caller is asked to wait
    rate_limit_wait = 60
    #: whether a 429 carries Retry-After (else only RateLimit-Reset, an epoch time)
    send_retry_after = True
    #: the user the token belongs to (who merges through the API)
    token_user = "gantry"

    def __init__(self, root: Path, token: str = "t0ken"):
        super().__init__(root, token)
        self._project_ids: dict[str, int] = {}
        self._methods: dict[tuple[str, int], str] = {}

    # -- the service's answers to refused calls ---------------------------------------

    def rate_limited_response(self) -> tuple[int, dict[str, str], Any]:
        reset = int(time.time()) + self.rate_limit_wait
        headers = {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": "60",
            "RateLimit-Observed": "61",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True),
        }
        if self.send_retry_after:
            headers["Retry-After"] = str(self.rate_limit_wait)
        return 429, headers, b"Retry later\n"

    def unauthorized(self) -> tuple[int, dict[str, str], Any]:
        return 401, {}, {"message": "401 Unauthorized"}

    # -- bookkeeping ------------------------------------------------------------------

    def add_repo(self, repo: str, source: Path) -> Path:
        bare = super().add_repo(repo, source)
        with self.lock:
            self._project_ids.setdefault(repo, len(self._project_ids) + 1)
        return bare

    def project_id(self, repo: str) -> int:
        return self._project_ids[repo]

    def mr_url(self, repo: str, iid: int) -> str:
        return f"{self.web_url(repo)}/-/merge_requests/{iid}"

    def merge(self, repo: str, number: int, *, method: str = "merge", by: str = "reviewer") -> PullRecord:
        pr = super().merge(repo, number, method=method, by=by)
        with self.lock:
            self._methods[(repo, number)] = method
        return pr

    def _heads(self, repo: str) -> dict[str, str]:
        out = git("for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads", cwd=self.bare(repo)).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def _user(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        return {
            "id": zlib.crc32(name.encode()) % 10_000 + 1, "username": name, "name": name.title(), "state": "active",
            "locked": False, "avatar_url": None, "web_url": f"{self.base_url}/{name}",
        }  # fmt: skip

    def _status(self, repo: str, pr: PullRecord, *, use_check: bool) -> tuple[str, str, bool]:
        """(detailed_merge_status, merge_status, has_conflicts) of an MR."""
        if pr.state != "open":
            return "not_open", "can_be_merged", False
        if pr.pending_checks > 0:
            if use_check:
                pr.pending_checks -= 1
            return "ci_still_running", "can_be_merged", False
        if not self.branch_exists(repo, pr.source) or not self.branch_exists(repo, pr.target):
            return "checking", "checking", False
        if self.has_conflicts(repo, pr):
            return "conflict", "cannot_be_merged", True
        return "mergeable", "can_be_merged", False

    def _mr(self, repo: str, pr: PullRecord, heads: dict[str, str], status: tuple[str, str, bool] | None = None) -> dict[str, Any]:
        detailed, merge_status, conflicts = status or ("unchecked", "unchecked", False)
        pid = self.project_id(repo)
        method = self._methods.get((repo, pr.number))
        sha = heads.get(pr.source)
        merge_sha = squash_sha = None
        if pr.state == "merged":
            if method == "squash":
                squash_sha = pr.merge_commit
            elif method == "rebase":
                sha = pr.merge_commit  # rebased, then fast-forwarded: the head is the target's tip
            else:
                merge_sha = pr.merge_commit
        when = pr.closed_at
        return {
            "id": pid * 100_000 + pr.number,
            "iid": pr.number,
            "project_id": pid,
            "title": pr.title,
            "description": pr.body,
            "state": {"open": "opened", "merged": "merged", "closed": "closed"}[pr.state],
            "created_at": pr.created_at,
            "updated_at": when or pr.created_at,
            "merged_by": self._user(pr.closed_by) if pr.state == "merged" else None,
            "merge_user": self._user(pr.closed_by) if pr.state == "merged" else None,
            "merged_at": when if pr.state == "merged" else None,
            "closed_by": self._user(pr.closed_by) if pr.state == "closed" else None,
            "closed_at": when if pr.state == "closed" else None,
            "target_branch": pr.target,
            "source_branch": pr.source,
            "user_notes_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "author": self._user(pr.author),
            "assignees": [],
            "assignee": None,
            "reviewers": [],
            "source_project_id": pid,
            "target_project_id": pid,
            "labels": list(pr.labels),
            "draft": False,
            "work_in_progress": False,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": merge_status,
            "detailed_merge_status": detailed,
            "sha": sha,
            "merge_commit_sha": merge_sha,
            "squash_commit_sha": squash_sha,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "reference": f"!{pr.number}",
            "references": {"short": f"!{pr.number}", "relative": f"!{pr.number}", "full": f"{repo}!{pr.number}"},
            "web_url": self.mr_url(repo, pr.number),
            "squash": pr.state == "merged" and method == "squash",
            "has_conflicts": conflicts,
            "blocking_discussions_resolved": True,
        }

    # -- the API ----------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        if not path.startswith(PREFIX + "/projects/"):
            raise ApiError(404, {"error": "404 Not Found"})
        parts = path[len(PREFIX) + 1 :].split("/")  # projects, <id>, ...
        repo = self._repo(unquote(parts[1]))
        rest = [unquote(p) for p in parts[2:]]
        q = {k: v[-1] for k, v in query.items()}
        body = body if isinstance(body, dict) else {}
        with self.lock:
            if rest == ["merge_requests"] and method == "GET":
                return self._list(repo, path, q)
            if rest == ["merge_requests"] and method == "POST":
                return self._create(repo, {**q, **body})
            if len(rest) == 2 and rest[0] == "merge_requests" and method == "GET":
                pr = self._find(repo, rest[1])
                return 200, {}, self._mr(repo, pr, self._heads(repo), self._status(repo, pr, use_check=True))
            if len(rest) == 3 and rest[0] == "merge_requests" and rest[2] == "merge" and method == "PUT":
                return self._merge(repo, self._find(repo, rest[1]), {**q, **body})
            if len(rest) >= 3 and rest[:2] == ["repository", "branches"] and method == "GET":
                return self._branch(repo, "/".join(rest[2:]))
        raise ApiError(404, {"error": "404 Not Found"})

    def _repo(self, ident: str) -> str:
        with self.lock:
            if ident.isdigit():
                for repo, pid in self._project_ids.items():
                    if pid == int(ident):
                        return repo
            elif ident in self._project_ids:
                return ident
        raise ApiError(404, {"message": "404 Project Not Found"})

    def _find(self, repo: str, iid: str) -> PullRecord:
        pr = self.find(repo, int(iid)) if iid.isdigit() else None
        if pr is None:
            raise ApiError(404, {"message": "404 Not found"})
        return pr

    def _list(self, repo: str, path: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        state = q.get("state", "all")
        if state not in ("opened", "closed", "locked", "merged", "all"):
            raise ApiError(400, {"error": "state does not have a valid value"})
        wanted = {"opened": "open", "closed": "closed", "merged": "merged", "locked": "-"}.get(state)
        pulls = [
            p for p in reversed(self.pulls.get(repo, []))
            if (wanted is None or p.state == wanted)
            and ("source_branch" not in q or p.source == q["source_branch"])
            and ("target_branch" not in q or p.target == q["target_branch"])
        ]  # fmt: skip
        try:
            page = max(1, int(q.get("page", "1")))
            per_page = min(self.max_per_page, max(1, int(q.get("per_page", "20"))))
        except ValueError:
            raise ApiError(400, {"error": "page is invalid"}) from None
        total_pages = max(1, -(-len(pulls) // per_page))
        chunk = pulls[(page - 1) * per_page : page * per_page]
        heads = self._heads(repo)

        def link(n: int) -> str:
            return f"{self.base_url}{path}?{urlencode({**q, 'page': n, 'per_page': per_page})}"

        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < total_pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links += [f'<{link(1)}>; rel="first"', f'<{link(total_pages)}>; rel="last"']
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(pulls)),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return 200, headers, [self._mr(repo, p, heads, self._status(repo, p, use_check=False)) for p in chunk]

    def _create(self, repo: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        for field in ("source_branch", "target_branch", "title"):
            if not body.get(field):
                raise ApiError(400, {"error": f"{field} is missing"})
        source, target = str(body["source_branch"]), str(body["target_branch"])
        if source == target:
            raise ApiError(422, {"message": ["You can't use same project/branch for source and target"]})
        for name, branch in (("Source", source), ("Target", target)):
            if not self.branch_exists(repo, branch):
                raise ApiError(422, {"message": [f'{name} branch "{branch}" does not exist']})
        for p in self.pulls.get(repo, []):
            if p.state == "open" and p.source == source and p.target == target:
                raise ApiError(409, {"message": [f"Another open merge request already exists for this source branch: !{p.number}"]})
        labels = body.get("labels") or []
        if isinstance(labels, str):
            labels = [label.strip() for label in labels.split(",") if label.strip()]
        pr = self.open(repo, source, target, str(body["title"]), str(body.get("description") or ""), list(dict.fromkeys(labels)))
        pr.author = self.token_user
        return 201, {}, self._mr(repo, pr, self._heads(repo), ("checking", "checking", False))

    def _merge(self, repo: str, pr: PullRecord, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if pr.state != "open":
            raise ApiError(405, {"message": "405 Method Not Allowed"})
        detailed, _, _ = self._status(repo, pr, use_check=False)
        if detailed in ("ci_still_running", "checking"):
            raise ApiError(405, {"message": "405 Method Not Allowed"})
        if detailed == "conflict":
            raise ApiError(422, {"message": "Branch cannot be merged"})
        head = self.head(repo, pr.source)
        if body.get("sha") and body["sha"] != head:
            raise ApiError(409, {"message": f"SHA does not match HEAD of source branch: {head}"})
        squash = body.get("squash") in (True, "true", "1")
        self.merge(repo, pr.number, method="squash" if squash else "merge", by=self.token_user)
        return 200, {}, self._mr(repo, pr, self._heads(repo), ("not_open", "can_be_merged", False))

    def _branch(self, repo: str, branch: str) -> tuple[int, dict[str, str], Any]:
        if not self.branch_exists(repo, branch):
            raise ApiError(404, {"message": "404 Branch Not Found"})
        sha = self.head(repo, branch)
        subject = git("log", "-1", "--format=%s", sha, cwd=self.bare(repo)).stdout.strip()
        return 200, {}, {
            "name": branch,
            "merged": False,
            "protected": False,
            "default": branch == "main",
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "web_url": f"{self.web_url(repo)}/-/tree/{branch}",
            "commit": {"id": sha, "short_id": sha[:8], "title": subject, "message": subject},
        }
