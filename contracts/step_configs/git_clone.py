"""``git-clone``'s config (Kargo's git-clone-config.json)."""

from __future__ import annotations

from pydantic import Field, model_validator

from contracts.step_configs._types import Bool, GitAuthor, NonEmpty, one_of
from contracts.step_configs.base import FieldError, StepConfig


class Checkout(StepConfig):
    """One working tree: a branch, commit or tag (at most one) checked out at ``path``."""

    path: NonEmpty
    as_: str | None = Field(default=None, alias="as")
    branch: str | None = None
    commit: str | None = None
    tag: str | None = None
    create: Bool = False
    sparse: list[NonEmpty] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_ref(self) -> Checkout:
        if len(one_of(self, "branch", "commit", "tag")) > 1:
            raise ValueError("set at most one of 'branch', 'commit' and 'tag'")
        if self.create and not self.branch:
            raise FieldError("create", "needs a 'branch' to create")
        return self


class GitCloneConfig(StepConfig):
    repo_url: NonEmpty = Field(alias="repoURL")
    checkout: list[Checkout] = Field(min_length=1)
    author: GitAuthor | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
    recurse_submodules: Bool = False
    blobless: Bool = False
