"""Azure DevOps Repos: pull requests over the Git REST API, version 7.1.

Everything goes to `{api}/{project}/_apis/git/repositories/{repo}/...?api-version=7.1`, where
`api` is `https://dev.azure.com/<org>` (or `https://<org>.visualstudio.com`): see
`pipeline.gitproviders.repo_ref`. The personal access token (the stored credential's password)
goes as basic auth with an empty user name, or the credential's username when it has one.

How Azure DevOps says things, and what they mean here:

* `status` is `active` (open), `completed` (merged) or `abandoned` (closed unmerged);
  `closedBy` is who completed or abandoned it.
* `lastMergeCommit` is a *preview* merge while the PR is active (a commit on no branch) and
  the commit the target branch got once it is completed: only the latter is a merge commit.
* `mergeStatus`: `succeeded` mergeable, `conflicts` / `rejectedByPolicy` / `failure` not,
  anything else (`queued`, `notSet`) not known yet.
* Merging is a PATCH of `status: completed` that names the source commit it was checked
  against (`lastMergeSourceCommit`; Azure refuses a completion without it) and the
  `completionOptions.mergeStrategy`: merge -> `noFastForward`, squash -> `squash`, rebase ->
  `rebase`. Completion can be asynchronous, and while branch policies hold the PR it stays
  active: the PR is read back and reported open (not mergeable yet) until it is completed.
* A missing or refused PAT is sometimes answered with HTTP 203 and a sign-in page instead of
  401: any success that is not JSON is reported as a refused credential.
"""

from __future__ import annotations

import base64
from typing import Any

from activities import credentials
from activities.gitproviders import api
from activities.gitproviders.base import MergeMethod, ProviderHTTPError, PullRequest
from pipeline.gitproviders import ProviderError, RepoRef

API_VERSION = "7.1"
STRATEGIES: dict[str, str] = {"merge": "noFastForward", "squash": "squash", "rebase": "rebase"}
_STATES = {"active": "open", "completed": "merged", "abandoned": "closed"}
#: a PR list longer than this many pages is not read further
MAX_PAGES = 50


def _identity(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("displayName") or value.get("uniqueName") or None
    return None


def _commit(value: Any) -> str | None:
    return (value.get("commitId") or None) if isinstance(value, dict) else None


def _refuse_unmergeable(data: dict[str, Any], what: str) -> None:
    """ProviderHTTPError 409 for a PR Azure says cannot be merged (conflicts, a policy)."""
    status = data.get("mergeStatus")
    if status == "conflicts":
        raise ProviderHTTPError(f"{what}: HTTP 409: the pull request has merge conflicts", status=409)
    if status in ("rejectedByPolicy", "failure"):
        raise ProviderHTTPError(f"{what}: HTTP 409: Azure DevOps cannot merge it (mergeStatus {status})", status=409)


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


class AzureDevOpsProvider:
    """`GitProvider` for Azure DevOps Services (dev.azure.com, *.visualstudio.com)."""

    #: PRs asked for per list call (`$top`)
    page_size = 100

    def __init__(self, repo: RepoRef, creds: credentials.Credentials | None, *, verify: bool = True):
        segments = repo.path.split("/")
        if len(segments) != 4 or segments[2] != "_git":
            raise ProviderError(f"Azure DevOps repository path {repo.path!r}: expected <org>/<project>/_git/<repo>")
        self.repo = repo
        self.project, self.name = segments[1], segments[3]
        self._base = f"/{self.project}/_apis/git/repositories/{self.name}"
        headers = {"Accept": "application/json"}
        if creds is not None and creds.password:
            raw = f"{creds.username}:{creds.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        self._client = api.client(repo, creds, headers, verify=verify)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- plumbing --------------------------------------------------------------------

    def web_url(self, number: int) -> str:
        return f"{self.repo.api}/{self.project}/_git/{self.name}/pullrequest/{number}"

    async def _call(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        query = {**(params or {}), "api-version": API_VERSION}
        response = await self._client.request(method, self._base + path, params=query, json=body)
        api.check(response, what)
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or response.status_code == 203:
            raise ProviderHTTPError(
                f"{what}: HTTP {response.status_code}: Azure DevOps answered with a sign-in page, not the API "
                "(the credential is missing or was not accepted)",
                status=401,
            )
        return data

    def _pr(self, data: dict[str, Any]) -> PullRequest:
        status = str(data.get("status") or "")
        state = _STATES.get(status)
        if state is None:
            raise ProviderHTTPError(f"pull request {data.get('pullRequestId')}: unknown status {status!r}", status=502)
        number = int(data["pullRequestId"])
        mergeable: bool | None = None
        if state == "open" and not data.get("isDraft"):
            merge_status = data.get("mergeStatus")
            if merge_status == "succeeded":
                mergeable = True
            elif merge_status in ("conflicts", "rejectedByPolicy", "failure"):
                mergeable = False
        return PullRequest(
            id=number,
            url=self.web_url(number),
            state=state,  # type: ignore[arg-type]
            source_branch=_branch(str(data.get("sourceRefName") or "")),
            target_branch=_branch(str(data.get("targetRefName") or "")),
            merge_commit=_commit(data.get("lastMergeCommit")) if state == "merged" else None,
            head_commit=_commit(data.get("lastMergeSourceCommit")),
            closed_by=_identity(data.get("closedBy")) if state != "open" else None,
            mergeable=mergeable,
        )

    async def _get(self, number: int) -> dict[str, Any]:
        return await self._call("GET", f"/pullrequests/{number}", f"reading pull request {number}")

    # -- GitProvider -----------------------------------------------------------------

    async def open_pr(self, *, source: str, target: str, title: str, description: str, labels: list[str]) -> PullRequest:
        body = {
            "sourceRefName": f"refs/heads/{source}",
            "targetRefName": f"refs/heads/{target}",
            "title": title,
            "description": description,
            "labels": [{"name": label} for label in labels],
        }
        try:
            data = await self._call("POST", "/pullrequests", f"opening a pull request from {source} into {target}", body=body)
        except ProviderHTTPError as err:
            if err.status == 409:  # TF401179: one is active already (opened meanwhile): that one
                existing = await self.find_open_pr(source=source, target=target)
                if existing is not None:
                    return existing
            raise
        return self._pr(data)

    async def get_pr(self, number: int) -> PullRequest:
        return self._pr(await self._get(number))

    async def list_open_prs(self, *, source: str | None = None, target: str | None = None) -> list[PullRequest]:
        """Every active PR (from `source`, into `target`), page by page (`$top`/`$skip`)."""
        params: dict[str, Any] = {"searchCriteria.status": "active", "$top": self.page_size}
        if source:
            params["searchCriteria.sourceRefName"] = f"refs/heads/{source}"
        if target:
            params["searchCriteria.targetRefName"] = f"refs/heads/{target}"
        found: list[PullRequest] = []
        for page in range(MAX_PAGES):
            data = await self._call("GET", "/pullrequests", "listing pull requests", params={**params, "$skip": page * self.page_size})
            values = data.get("value") or []
            for item in values:
                pr = self._pr(item)
                if pr.state == "open" and source in (None, pr.source_branch) and target in (None, pr.target_branch):
                    found.append(pr)
            if len(values) < self.page_size:
                break
        return found

    async def find_open_pr(self, *, source: str, target: str) -> PullRequest | None:
        found = await self.list_open_prs(source=source, target=target)
        return found[0] if found else None

    async def merge_pr(self, number: int, *, method: MergeMethod | None = None) -> PullRequest:
        what = f"completing pull request {number}"
        data = await self._get(number)
        pr = self._pr(data)
        if pr.state != "open":
            return pr
        _refuse_unmergeable(data, what)
        source_commit = _commit(data.get("lastMergeSourceCommit"))
        if pr.mergeable is None or source_commit is None:
            return pr  # a draft, or the merge is not computed yet / checks are running
        body: dict[str, Any] = {"status": "completed", "lastMergeSourceCommit": {"commitId": source_commit}}
        if method is not None:
            body["completionOptions"] = {"mergeStrategy": STRATEGIES[method]}
        data = await self._call("PATCH", f"/pullrequests/{number}", what, body=body)
        if data.get("status") == "active":  # completing is asynchronous: read it back once
            data = await self._get(number)
            if data.get("status") == "active":
                _refuse_unmergeable(data, what)
        return self._pr(data)

    async def branch_exists(self, branch: str) -> bool:
        # `filter` matches a prefix of the ref name (heads/main finds heads/main-2 too)
        data = await self._call("GET", "/refs", f"looking up branch {branch!r}", params={"filter": f"heads/{branch}"})
        return any(ref.get("name") == f"refs/heads/{branch}" for ref in data.get("value") or [])


__all__ = ["AzureDevOpsProvider"]
