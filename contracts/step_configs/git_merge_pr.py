"""``git-merge-pr``'s config (Kargo's git-merge-pr-config.json). Kargo passes ``mergeMethod``
to the provider as it is; Gantry's providers know merge, squash and rebase, so others are
refused here rather than at the provider."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.step_configs._types import Bool, Duration, Int, NonEmpty, Provider
from contracts.step_configs.base import StepConfig


class GitMergePRConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "`mergeMethod` must be `merge`, `squash` or `rebase`",
    )

    repo_url: NonEmpty = Field(alias="repoURL")
    pr_number: Int = Field(ge=1)
    provider: Provider | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
    wait: Bool = False
    poll_interval: Duration | None = None
    merge_method: Literal["merge", "squash", "rebase"] | None = None
