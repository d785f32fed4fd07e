"""GitHub (github.com and GitHub Enterprise Server) over its REST API, version 2022-11-28.

The calls, as GitHub documents them:

* open: ``POST /repos/{owner}/{repo}/pulls``, then ``POST /repos/{owner}/{repo}/issues/{n}/labels``
  when labels are asked for (labels belong to the PR's issue);
* get: ``GET /repos/{owner}/{repo}/pulls/{n}``; a PR closed without merging names no closer,
  so its issue (``GET /repos/{owner}/{repo}/issues/{n}``, ``closed_by``) is read for that;
* find: ``GET /repos/{owner}/{repo}/pulls?state=open&head={owner}:{branch}&base={branch}``,
  every page (the ``Link`` header's ``rel="next"``), checked again here;
* merge: ``PUT /repos/{owner}/{repo}/pulls/{n}/merge`` (405: not mergeable, 409: conflict or
  the head moved), then the PR read again for its merge commit;
* branch: ``GET /repos/{owner}/{repo}/branches/{branch}`` (404: no such branch).

The token is the password of the repoURL's stored git credential, sent as
``Authorization: Bearer``. GitHub says "rate limited" with a 403 or 429 carrying
``Retry-After`` or ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``; ``api.check``
reads both into ``ProviderHTTPError.retry_after``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from activities.credentials import Credentials
from activities.gitproviders import api
from activities.gitproviders.base import MergeMethod, ProviderHTTPError, PullRequest
from pipeline.gitproviders import ProviderError, RepoRef

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
#: GitHub's largest page
PER_PAGE = 100
#: pages of open PRs read before giving up (10,000 open PRs into one branch is not a repository we serve)
MAX_PAGES = 100


def _seg(value: str) -> str:
    """One path segment: a branch `release/1.0` stays one segment (`release%2F1.0`)."""
    return quote(value, safe="")


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) and user.get("login") else None


class GitHubProvider:
    """A GitProvider for one GitHub repository."""

    def __init__(self, repo: RepoRef, creds: Credentials | None, *, verify: bool = True):
        segments = repo.path.split("/")
        if len(segments) != 2 or not all(segments):
            raise ProviderError(f"a GitHub repository is named owner/name, not {repo.path!r}")
        self.repo = repo
        self._token = creds.password if creds is not None and creds.password else ""
        headers = {"Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION, "User-Agent": "gantry"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._client = api.client(repo, creds, headers, verify=verify)
        self._base = f"/repos/{_seg(repo.owner)}/{_seg(repo.name)}"

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- plumbing ---------------------------------------------------------------------

    async def _call(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        response = await self._client.request(method, path, **kw)
        try:
            return api.check(response, what)
        except ProviderHTTPError as err:
            raise self._scrubbed(err) from None

    def _scrubbed(self, err: ProviderHTTPError) -> ProviderHTTPError:
        """The error without the token in it, should a service ever echo it back."""
        text = str(err)
        if self._token and self._token in text:
            return ProviderHTTPError(text.replace(self._token, "***"), status=err.status, retry_after=err.retry_after)
        return err

    def _pr(self, data: dict[str, Any], closed_by: str | None = None) -> PullRequest:
        merged = bool(data.get("merged")) or bool(data.get("merged_at"))
        state = "merged" if merged else ("open" if data.get("state") == "open" else "closed")
        head = data.get("head") or {}
        base = data.get("base") or {}
        mergeable = data.get("mergeable")
        return PullRequest(
            id=int(data["number"]),
            url=str(data.get("html_url") or f"{self.repo.origin}/{self.repo.path}/pull/{data['number']}"),
            state=state,
            source_branch=str(head.get("ref") or ""),
            target_branch=str(base.get("ref") or ""),
            merge_commit=(data.get("merge_commit_sha") or None) if merged else None,
            head_commit=head.get("sha") or None,
            closed_by=_login(data.get("merged_by")) if merged else closed_by,
            mergeable=mergeable if isinstance(mergeable, bool) else None,
        )

    def _same_origin(self, url: str) -> bool:
        """A Link header's page is fetched (with the token) only from the API's own origin."""
        ours, theirs = urlsplit(self.repo.api), urlsplit(url)
        return (ours.scheme, ours.netloc.lower()) == (theirs.scheme, theirs.netloc.lower())

    # -- the interface ----------------------------------------------------------------

    async def open_pr(self, *, source: str, target: str, title: str, description: str, labels: list[str]) -> PullRequest:
        what = f"opening a pull request from {source!r} into {target!r}"
        body = {"title": title, "head": source, "base": target, "body": description, "maintainer_can_modify": False}
        try:
            response = await self._call("POST", f"{self._base}/pulls", what, json=body)
        except ProviderHTTPError as err:
            # 422 "A pull request already exists for owner:branch": opened by an attempt
            # whose answer was lost; that one is the PR (labels were asked for then too).
            if err.status == 422 and "already exists" in str(err):
                found = await self.find_open_pr(source=source, target=target)
                if found is not None:
                    return found
            raise
        pr = self._pr(response.json())
        if labels:
            await self._call(
                "POST", f"{self._base}/issues/{pr.id}/labels", f"labelling pull request #{pr.id}", json={"labels": labels}
            )
        return pr

    async def get_pr(self, number: int) -> PullRequest:
        data = (await self._call("GET", f"{self._base}/pulls/{number}", f"reading pull request #{number}")).json()
        closed_by = None
        if data.get("state") != "open" and not (data.get("merged") or data.get("merged_at")):
            issue = (await self._call("GET", f"{self._base}/issues/{number}", f"reading issue #{number}")).json()
            closed_by = _login(issue.get("closed_by"))
        return self._pr(data, closed_by)

    async def find_open_pr(self, *, source: str, target: str) -> PullRequest | None:
        what = f"listing open pull requests from {source!r} into {target!r}"
        url: str | None = f"{self._base}/pulls"
        params: dict[str, Any] | None = {
            "state": "open", "head": f"{self.repo.owner}:{source}", "base": target, "per_page": PER_PAGE,
        }  # fmt: skip
        for _ in range(MAX_PAGES):
            assert url is not None
            response = await self._call("GET", url, what, params=params)
            for data in response.json():
                head, base = data.get("head") or {}, data.get("base") or {}
                if data.get("state") == "open" and head.get("ref") == source and base.get("ref") == target:
                    owner = ((head.get("repo") or {}).get("owner") or {}).get("login")
                    if owner is None or owner.lower() == self.repo.owner.lower():
                        return self._pr(data)
            url = response.links.get("next", {}).get("url")
            if not url:
                return None
            if not self._same_origin(url):
                raise ProviderHTTPError(f"{what}: the next page is on another host; not followed", status=502)
            params = None  # the next link carries the query
        raise ProviderHTTPError(f"{what}: more than {MAX_PAGES} pages", status=502)

    async def merge_pr(self, number: int, *, method: MergeMethod | None = None) -> PullRequest:
        body: dict[str, Any] = {"merge_method": method} if method else {}
        try:
            await self._call("PUT", f"{self._base}/pulls/{number}/merge", f"merging pull request #{number}", json=body)
        except ProviderHTTPError as err:
            if err.status in (405, 409) and not err.rate_limited:
                # merged meanwhile (an earlier attempt whose answer was lost, a person)?
                pr = await self.get_pr(number)
                if pr.state == "merged":
                    return pr
            raise
        return await self.get_pr(number)

    async def branch_exists(self, branch: str) -> bool:
        response = await self._client.get(f"{self._base}/branches/{_seg(branch)}")
        if response.status_code == 404:
            return False
        try:
            api.check(response, f"looking up branch {branch!r}")
        except ProviderHTTPError as err:
            raise self._scrubbed(err) from None
        return True
