"""Config of `github-push` (Kargo's GitHubPushConfig)."""

from __future__ import annotations

from pydantic import Field, model_validator

from contracts.step_configs.base import StepConfig


class GitHubPushConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "the integration is always a rebase (Kargo's `AlwaysRebase`, its default; other policies are not offered)",
        "a commit is trusted by git's own verdict (a good signature by a fully trusted key)",
    )

    path: str = Field(min_length=1)
    generate_target_branch: bool | None = None
    target_branch: str | None = None
    force: bool = False
    max_attempts: int | None = Field(default=None, ge=1, le=2147483647)
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")

    @model_validator(mode="after")
    def _one_target(self) -> GitHubPushConfig:
        if self.generate_target_branch and self.target_branch:
            raise ValueError("'targetBranch' and 'generateTargetBranch: true' are mutually exclusive")
        return self
