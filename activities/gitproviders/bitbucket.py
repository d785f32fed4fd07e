"""Bitbucket Cloud: pull requests over the REST API 2.0 (`https://api.bitbucket.org/2.0`).

The repository is `/repositories/{workspace}/{repo_slug}`. The stored credential is sent as a
Bearer token (a repository, project or workspace access token) when it has no username, and
as basic auth (username + app password or API token) when it has one.

How Bitbucket says things, and what they mean here:

* `state` is `OPEN`, `MERGED`, or `DECLINED` / `SUPERSEDED` (closed unmerged); `closed_by` is
  who merged or declined it.
* `merge_commit.hash` is an abbreviated hash: it is resolved to the full one through
  `/commit/{hash}` (the steps output the commit). `head_commit` stays as Bitbucket gives it
  (abbreviated too).
* Bitbucket has no mergeability field: `mergeable` is None while open. Before merging, the
  PR's commit statuses are read; while a build is `INPROGRESS` the PR is reported open and
  not mergeable yet (the step waits). Conflicts are the merge call's 409.
* Merge methods: merge -> `merge_commit`, squash -> `squash`, rebase -> `rebase_fast_forward`
  (rebase the source onto the destination, then fast-forward). Plain `fast_forward` is not
  used for rebase: Bitbucket refuses it as soon as the destination has moved on, which is
  what a rebase is for. No method: the repository's default strategy.
* Lists are paginated with `next` links; only a link under this API base is followed, so the
  credential never goes anywhere else.
* Labels: Bitbucket pull requests have none; `labels` is ignored (as Kargo does).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from activities import credentials, http_client
from activities.gitproviders import api
from activities.gitproviders.base import MergeMethod, ProviderHTTPError, PullRequest
from pipeline.gitproviders import ProviderError, RepoRef

STRATEGIES: dict[str, str] = {"merge": "merge_commit", "squash": "squash", "rebase": "rebase_fast_forward"}
_STATES = {"OPEN": "open", "MERGED": "merged", "DECLINED": "closed", "SUPERSEDED": "closed"}
#: a list longer than this many pages is not read further
MAX_PAGES = 50


def _user(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("display_name") or value.get("nickname") or None
    return None


def _quoted(value: str) -> str:
    """A string in Bitbucket's query language (BBQL): double quotes, escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BitbucketProvider:
    """`GitProvider` for Bitbucket Cloud."""

    #: PRs asked for per list page (`pagelen`; Bitbucket allows at most 50 here)
    page_size = 50

    def __init__(self, repo: RepoRef, creds: credentials.Credentials | None, *, verify: bool = True):
        segments = repo.path.split("/")
        if len(segments) != 2 or not all(segments):
            raise ProviderError(f"Bitbucket repository path {repo.path!r}: expected <workspace>/<repository>")
        self.repo = repo
        self.workspace, self.slug = segments
        self._base = f"/repositories/{self.workspace}/{self.slug}"
        headers = {"Accept": "application/json", **http_client.auth_header(creds)}
        self._client = api.client(repo, creds, headers, verify=verify)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- plumbing --------------------------------------------------------------------

    async def _call(self, method: str, path: str, what: str, *, params: Any = None, body: Any = None) -> httpx.Response:
        response = await self._client.request(method, self._base + path, params=params, json=body)
        return api.check(response, what)

    async def _json(self, method: str, path: str, what: str, *, params: Any = None, body: Any = None) -> dict[str, Any]:
        return self._body(await self._call(method, path, what, params=params, body=body), what)

    @staticmethod
    def _body(response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderHTTPError(f"{what}: HTTP {response.status_code}: the answer is not a JSON object", status=502)
        return data

    async def _pages(self, path: str, what: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every value of a paginated list, following `next` links under the API base."""
        values: list[dict[str, Any]] = []
        response = await self._call("GET", path, what, params=params)
        for _ in range(MAX_PAGES):
            data = self._body(response, what)
            values.extend(v for v in data.get("values") or [] if isinstance(v, dict))
            link = data.get("next")
            if not link:
                break
            if not isinstance(link, str) or not link.startswith(self.repo.api + "/"):
                raise ProviderHTTPError(f"{what}: the next page is not under {self.repo.api}; not following it", status=502)
            response = api.check(await self._client.get(link), what)
        return values

    def _web_url(self, data: dict[str, Any], number: int) -> str:
        href = ((data.get("links") or {}).get("html") or {}).get("href")
        return href if isinstance(href, str) and href else f"{self.repo.origin}/{self.repo.path}/pull-requests/{number}"

    async def _full_hash(self, short: str) -> str:
        data = await self._json("GET", f"/commit/{quote(short, safe='')}", f"reading commit {short}")
        return str(data.get("hash") or short)

    async def _pr(self, data: dict[str, Any]) -> PullRequest:
        state = _STATES.get(str(data.get("state") or ""))
        if state is None:
            raise ProviderHTTPError(f"pull request {data.get('id')}: unknown state {data.get('state')!r}", status=502)
        number = int(data["id"])
        merge_commit = None
        if state == "merged":
            short = (data.get("merge_commit") or {}).get("hash")
            merge_commit = await self._full_hash(short) if short else None
        source = data.get("source") or {}
        destination = data.get("destination") or {}
        return PullRequest(
            id=number,
            url=self._web_url(data, number),
            state=state,  # type: ignore[arg-type]
            source_branch=str((source.get("branch") or {}).get("name") or ""),
            target_branch=str((destination.get("branch") or {}).get("name") or ""),
            merge_commit=merge_commit,
            head_commit=(source.get("commit") or {}).get("hash"),
            closed_by=_user(data.get("closed_by")) if state != "open" else None,
            mergeable=None,
        )

    async def _get(self, number: int) -> dict[str, Any]:
        return await self._json("GET", f"/pullrequests/{number}", f"reading pull request {number}")

    async def _builds_running(self, number: int) -> bool:
        statuses = await self._pages(f"/pullrequests/{number}/statuses", f"reading the checks of pull request {number}", {})
        return any(s.get("state") == "INPROGRESS" for s in statuses)

    # -- GitProvider -----------------------------------------------------------------

    async def open_pr(self, *, source: str, target: str, title: str, description: str, labels: list[str]) -> PullRequest:
        """Open it (`labels` are ignored: Bitbucket pull requests have none)."""
        body = {
            "title": title,
            "description": description,
            "source": {"branch": {"name": source}},
            "destination": {"branch": {"name": target}},
            "close_source_branch": False,
        }
        what = f"opening a pull request from {source} into {target}"
        try:
            data = await self._json("POST", "/pullrequests", what, body=body)
        except ProviderHTTPError as err:
            if err.status in (400, 409):  # one may have been opened meanwhile: that one
                existing = await self.find_open_pr(source=source, target=target)
                if existing is not None:
                    return existing
            raise
        return await self._pr(data)

    async def get_pr(self, number: int) -> PullRequest:
        return await self._pr(await self._get(number))

    async def list_open_prs(self, *, source: str | None = None, target: str | None = None) -> list[PullRequest]:
        """Every open PR (from `source`, into `target`), following the `next` links."""
        clauses = [f"source.branch.name={_quoted(source)}"] if source else []
        clauses += [f"destination.branch.name={_quoted(target)}"] if target else []
        clauses.append('state="OPEN"')
        params = {"q": " AND ".join(clauses), "state": "OPEN", "pagelen": self.page_size}
        found: list[PullRequest] = []
        for item in await self._pages("/pullrequests", "listing pull requests", params):
            pr = await self._pr(item)
            if pr.state == "open" and source in (None, pr.source_branch) and target in (None, pr.target_branch):
                found.append(pr)
        return found

    async def find_open_pr(self, *, source: str, target: str) -> PullRequest | None:
        found = await self.list_open_prs(source=source, target=target)
        return found[0] if found else None

    async def merge_pr(self, number: int, *, method: MergeMethod | None = None) -> PullRequest:
        data = await self._get(number)
        pr = await self._pr(data)
        if pr.state != "open" or data.get("draft") or await self._builds_running(number):
            return pr
        body: dict[str, Any] = {"type": "pullrequest_merge_parameters", "close_source_branch": False}
        if method is not None:
            body["merge_strategy"] = STRATEGIES[method]
        response = await self._call("POST", f"/pullrequests/{number}/merge", f"merging pull request {number}", body=body)
        if response.status_code == 202:  # merging in the background: it shows as merged later
            return await self.get_pr(number)
        return await self._pr(self._body(response, f"merging pull request {number}"))

    async def branch_exists(self, branch: str) -> bool:
        try:
            await self._call("GET", f"/refs/branches/{quote(branch, safe='/')}", f"looking up branch {branch!r}")
        except ProviderHTTPError as err:
            if err.status == 404:
                return False
            raise
        return True


__all__ = ["BitbucketProvider"]
