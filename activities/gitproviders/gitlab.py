"""GitLab (gitlab.com and self-managed) merge requests over REST API v4.

The project is addressed by its URL-encoded path (`group%2Fsub%2Fname`), which GitLab
accepts wherever it takes a project id; a merge request by its `iid` (the `!7` people see),
which is what `PullRequest.id` holds. The token (the stored git credential's password: a
personal, project or group access token, or an OAuth token) goes in `Authorization: Bearer`.

Mergeability comes from `detailed_merge_status` (GitLab 15.6+), else the older
`merge_status`: `mergeable` / `can_be_merged` is True; a conflict, or a branch that must be
rebased first (`need_rebase`, fast-forward projects), is False: waiting cannot change it;
anything else (`checking`, `unchecked`, `ci_still_running`, `not_approved`, `draft_status`...)
is None, "not mergeable yet".

Merge methods: GitLab's accept endpoint takes a merge commit or a squash (`squash: true`);
how the result lands (merge commit, semi-linear, fast-forward) is the project's setting, not
the request's, so `rebase` is refused before any call, as a 400 naming the project setting.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from activities import credentials
from activities.gitproviders import api
from activities.gitproviders.base import MergeMethod, ProviderHTTPError, PullRequest
from pipeline.gitproviders import RepoRef

#: GitLab's largest page
PAGE_SIZE = 100
#: statuses that waiting cannot turn into "mergeable"
_NEVER_BY_WAITING = {"conflict", "need_rebase", "cannot_be_merged"}
_MERGEABLE = {"mergeable", "can_be_merged"}


def _user(value: Any) -> str | None:
    return value.get("username") or value.get("name") if isinstance(value, dict) else None


class GitLabProvider:
    """`GitProvider` for one GitLab project."""

    def __init__(self, repo: RepoRef, creds: credentials.Credentials | None, *, verify: bool = True):
        self.repo = repo
        headers = {"Accept": "application/json"}
        if creds is not None and creds.password:
            headers["Authorization"] = f"Bearer {creds.password}"
        self._client = api.client(repo, creds, headers, verify=verify)
        self._project = f"/projects/{quote(repo.path, safe='')}"

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- reading ----------------------------------------------------------------------

    def _pr(self, mr: dict[str, Any]) -> PullRequest:
        state = {"opened": "open", "locked": "open", "merged": "merged"}.get(mr.get("state", ""), "closed")
        status = mr.get("detailed_merge_status") or mr.get("merge_status") or ""
        mergeable: bool | None = None
        if state == "open":
            if mr.get("has_conflicts") or status in _NEVER_BY_WAITING:
                mergeable = False
            elif status in _MERGEABLE and not mr.get("draft") and not mr.get("work_in_progress"):
                mergeable = True
        closed_by = None
        if state == "merged":
            closed_by = _user(mr.get("merge_user")) or _user(mr.get("merged_by"))
        elif state == "closed":
            closed_by = _user(mr.get("closed_by"))
        merge_commit = None
        if state == "merged":
            # a merge commit; else the squash commit; else (fast-forward) the head itself
            merge_commit = mr.get("merge_commit_sha") or mr.get("squash_commit_sha") or mr.get("sha")
        return PullRequest(
            id=int(mr["iid"]),
            url=str(mr.get("web_url") or f"{self.repo.origin}/{self.repo.path}/-/merge_requests/{mr['iid']}"),
            state=state,  # type: ignore[arg-type]
            source_branch=str(mr.get("source_branch", "")),
            target_branch=str(mr.get("target_branch", "")),
            merge_commit=merge_commit,
            head_commit=mr.get("sha"),
            closed_by=closed_by,
            mergeable=mergeable,
        )

    async def get_pr(self, number: int) -> PullRequest:
        response = await self._client.get(f"{self._project}/merge_requests/{number}")
        return self._pr(api.check(response, f"reading merge request !{number}").json())

    async def find_open_pr(self, *, source: str, target: str) -> PullRequest | None:
        params: dict[str, Any] = {
            "state": "opened", "source_branch": source, "target_branch": target, "per_page": PAGE_SIZE, "page": 1,
        }  # fmt: skip
        while True:
            response = api.check(
                await self._client.get(f"{self._project}/merge_requests", params=params),
                f"listing open merge requests from {source!r} into {target!r}",
            )
            for mr in response.json():
                if mr.get("source_branch") == source and mr.get("target_branch") == target and mr.get("state") in ("opened", "locked"):
                    return self._pr(mr)
            page = api.next_page(response)
            if page is None or page <= params["page"]:
                return None
            params["page"] = page

    async def branch_exists(self, branch: str) -> bool:
        response = await self._client.get(f"{self._project}/repository/branches/{quote(branch, safe='')}")
        if response.status_code == 404:
            return False
        api.check(response, f"reading branch {branch!r}")
        return True

    # -- writing ----------------------------------------------------------------------

    async def open_pr(self, *, source: str, target: str, title: str, description: str, labels: list[str]) -> PullRequest:
        body: dict[str, Any] = {"source_branch": source, "target_branch": target, "title": title, "description": description}
        if labels:
            body["labels"] = ",".join(labels)
        response = await self._client.post(f"{self._project}/merge_requests", json=body)
        if response.status_code == 409:
            # "Another open merge request already exists for this source branch": opened
            # meanwhile (a retry after a lost answer), so it is the one we want
            existing = await self.find_open_pr(source=source, target=target)
            if existing is not None:
                return existing
        return self._pr(api.check(response, f"opening a merge request from {source!r} into {target!r}").json())

    async def merge_pr(self, number: int, *, method: MergeMethod | None = None) -> PullRequest:
        what = f"merging merge request !{number}"
        if method == "rebase":
            raise ProviderHTTPError(
                f"{what}: GitLab does not take a merge method per request; a rebase (fast-forward) merge is the "
                "project's merge method setting: use mergeMethod merge (the project's method) or squash",
                status=400,
            )
        pr = await self.get_pr(number)
        if pr.state != "open" or pr.mergeable is None:
            return pr  # merged or closed already, or not mergeable yet: the step decides
        body: dict[str, Any] = {"squash": method == "squash"}
        if pr.head_commit:
            body["sha"] = pr.head_commit  # GitLab refuses (409) if the branch moved since we looked
        response = await self._client.put(f"{self._project}/merge_requests/{number}/merge", json=body)
        return self._pr(api.check(response, what).json())


__all__ = ["GitLabProvider"]
