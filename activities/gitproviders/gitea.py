"""Gitea and Forgejo pull requests over their shared REST API (`/api/v1`).

The token (the stored git credential's password) goes in `Authorization: token <token>`.

Labels: the API takes label *ids*. The names are looked up in the repository's labels
(`GET /repos/{owner}/{repo}/labels`, all pages) and a name the repository lacks is
**created** (`POST .../labels`, a neutral colour), as GitHub and GitLab do when given a new
label name; a label that cannot be created (no permission) fails the step with Gitea's words.

Mergeability: Gitea answers `mergeable: false` both while it is still testing the merge and
when the branches conflict, and says nothing more, so `false` is reported as "not known yet"
(None). A merge is then simply tried: Gitea refuses one it cannot do with 405 ("Please try
again later") or, when the merge itself conflicts, 409.

Who closed a pull request is not in the pull request; it is read from the issue's timeline
(the last `close` event), and left unknown if the server has no timeline.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from activities import credentials
from activities.gitproviders import api
from activities.gitproviders.base import MergeMethod, ProviderHTTPError, PullRequest
from pipeline.gitproviders import RepoRef

#: Gitea's default largest page (`[api] MAX_RESPONSE_ITEMS`); a server set lower pages sooner
PAGE_SIZE = 50
#: the colour of a label this provider creates
LABEL_COLOR = "#ededed"


def _login(value: Any) -> str | None:
    return (value.get("login") or value.get("username")) if isinstance(value, dict) else None


class GiteaProvider:
    """`GitProvider` for one Gitea or Forgejo repository."""

    def __init__(self, repo: RepoRef, creds: credentials.Credentials | None, *, verify: bool = True):
        self.repo = repo
        headers = {"Accept": "application/json"}
        if creds is not None and creds.password:
            headers["Authorization"] = f"token {creds.password}"
        self._client = api.client(repo, creds, headers, verify=verify)
        owner, _, name = repo.path.partition("/")
        self._repo = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _pages(self, path: str, params: dict[str, Any], what: str):
        """Every item of a paginated list (`page`, `limit`; the next page from `Link`)."""
        params = {**params, "limit": PAGE_SIZE, "page": 1}
        while True:
            response = api.check(await self._client.get(path, params=params), what)
            items = response.json() or []
            for item in items:
                yield item
            page = api.next_page(response)
            if page is None or page <= params["page"] or not items:
                return
            params["page"] = page

    # -- reading ----------------------------------------------------------------------

    def _pr(self, pull: dict[str, Any], closed_by: str | None = None) -> PullRequest:
        merged = bool(pull.get("merged"))
        state = "merged" if merged else "open" if pull.get("state") == "open" else "closed"
        head, base = pull.get("head") or {}, pull.get("base") or {}
        return PullRequest(
            id=int(pull["number"]),
            url=str(pull.get("html_url") or f"{self.repo.origin}/{self.repo.path}/pulls/{pull['number']}"),
            state=state,  # type: ignore[arg-type]
            source_branch=str(head.get("ref", "")),
            target_branch=str(base.get("ref", "")),
            merge_commit=pull.get("merge_commit_sha") if merged else None,
            head_commit=head.get("sha"),
            closed_by=_login(pull.get("merged_by")) if merged else closed_by,
            mergeable=True if state == "open" and pull.get("mergeable") else None,
        )

    async def _closer(self, number: int) -> str | None:
        """Who closed issue/PR `number`: the last `close` event of its timeline."""
        closer = None
        try:
            async for event in self._pages(f"{self._repo}/issues/{number}/timeline", {}, "reading the timeline"):
                if isinstance(event, dict) and event.get("type") == "close":
                    closer = _login(event.get("user")) or closer
        except ProviderHTTPError as err:
            if err.rate_limited or err.status >= 500:
                raise
            return None  # an older server without a timeline: the closer stays unknown
        return closer

    async def get_pr(self, number: int) -> PullRequest:
        response = await self._client.get(f"{self._repo}/pulls/{number}")
        pull = api.check(response, f"reading pull request #{number}").json()
        if pull.get("state") != "open" and not pull.get("merged"):
            return self._pr(pull, await self._closer(number))
        return self._pr(pull)

    async def find_open_pr(self, *, source: str, target: str) -> PullRequest | None:
        what = f"listing open pull requests from {source!r} into {target!r}"
        async for pull in self._pages(f"{self._repo}/pulls", {"state": "open"}, what):
            head, base = pull.get("head") or {}, pull.get("base") or {}
            same_repo = head.get("repo_id") is None or head.get("repo_id") == base.get("repo_id")
            if head.get("ref") == source and base.get("ref") == target and same_repo and pull.get("state") == "open":
                return self._pr(pull)
        return None

    async def branch_exists(self, branch: str) -> bool:
        # Gitea routes /branches/* on the raw path: slashes in a branch name stay slashes
        response = await self._client.get(f"{self._repo}/branches/{quote(branch, safe='/')}")
        if response.status_code == 404:
            return False
        api.check(response, f"reading branch {branch!r}")
        return True

    # -- writing ----------------------------------------------------------------------

    async def _label_ids(self, names: list[str]) -> list[int]:
        wanted = list(dict.fromkeys(n for n in names if n))
        if not wanted:
            return []
        known: dict[str, int] = {}
        async for label in self._pages(f"{self._repo}/labels", {}, "listing the repository's labels"):
            known.setdefault(str(label.get("name")), int(label["id"]))
        ids = []
        for name in wanted:
            if name not in known:
                response = await self._client.post(f"{self._repo}/labels", json={"name": name, "color": LABEL_COLOR})
                known[name] = int(api.check(response, f"creating label {name!r}").json()["id"])
            ids.append(known[name])
        return ids

    async def open_pr(self, *, source: str, target: str, title: str, description: str, labels: list[str]) -> PullRequest:
        body: dict[str, Any] = {"head": source, "base": target, "title": title, "body": description}
        if labels:
            body["labels"] = await self._label_ids(labels)
        response = await self._client.post(f"{self._repo}/pulls", json=body)
        if response.status_code == 409:
            # "pull request already exists for these targets": opened meanwhile, ours
            existing = await self.find_open_pr(source=source, target=target)
            if existing is not None:
                return existing
        return self._pr(api.check(response, f"opening a pull request from {source!r} into {target!r}").json())

    async def merge_pr(self, number: int, *, method: MergeMethod | None = None) -> PullRequest:
        pr = await self.get_pr(number)
        if pr.state != "open":
            return pr
        body: dict[str, Any] = {"Do": method or "merge"}
        if pr.head_commit:
            body["head_commit_id"] = pr.head_commit  # Gitea refuses (409) if the branch moved meanwhile
        response = await self._client.post(f"{self._repo}/pulls/{number}/merge", json=body)
        what = f"merging pull request #{number}"
        if response.status_code == 405 and pr.mergeable is None:
            what += " (Gitea does not merge it now: conflicts, or its merge check is still running)"
        api.check(response, what)
        return await self.get_pr(number)  # the merge answers with no body


__all__ = ["GiteaProvider"]
