"""The one interface the pull-request steps use, whatever the Git hosting service.

A provider module (`github.py`, `gitlab.py`, ...) implements :class:`GitProvider` over httpx
for one service's REST API. Credentials come from the store (`activities.credentials`, type
`git`, looked up by the repoURL inside the activity) and go only into request headers; no
token ever enters a message, an output or an error.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from pipeline.gitproviders import RepoRef

MergeMethod = Literal["merge", "squash", "rebase"]


class PullRequest(BaseModel):
    """A pull (merge) request as the steps see it, on any service."""

    #: the number the service shows (GitHub/Gitea/Bitbucket number, GitLab iid, Azure id)
    id: int
    url: str
    #: open, merged or closed (closed without merging)
    state: Literal["open", "merged", "closed"]
    source_branch: str
    target_branch: str
    #: the merge commit (or the head commit a fast-forward/rebase left), once merged
    merge_commit: str | None = None
    #: the head commit of the source branch
    head_commit: str | None = None
    #: who merged or closed it, when the service says
    closed_by: str | None = None
    #: the service's answer on mergeability: True, False (conflicts), None (not known yet / checks running)
    mergeable: bool | None = None


class ProviderHTTPError(Exception):
    """A refused or failed API call: `status`, and for 403/429 how long the service asked
    us to wait (`retry_after` seconds, from Retry-After or a rate-limit reset header)."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or (self.status == 403 and self.retry_after is not None)


class GitProvider(Protocol):
    """What git-open-pr, git-wait-for-pr and git-merge-pr ask of a service."""

    repo: RepoRef

    async def open_pr(
        self, *, source: str, target: str, title: str, description: str, labels: list[str]
    ) -> PullRequest: ...

    async def get_pr(self, number: int) -> PullRequest: ...

    async def find_open_pr(self, *, source: str, target: str) -> PullRequest | None:
        """The open PR from `source` into `target`, if any (what makes open_pr idempotent)."""
        ...

    async def merge_pr(self, number: int, *, method: MergeMethod | None = None) -> PullRequest:
        """Merge it; a PR that is not mergeable yet comes back open with `mergeable` None,
        one with conflicts raises ProviderHTTPError (409/405)."""
        ...

    async def branch_exists(self, branch: str) -> bool: ...

    async def aclose(self) -> None: ...
