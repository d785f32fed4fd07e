"""``git-wait-for-pr``'s config (Kargo's git-wait-for-pr-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import Bool, Duration, Int, NonEmpty, Provider
from contracts.step_configs.base import StepConfig


class GitWaitForPRConfig(StepConfig):
    repo_url: NonEmpty = Field(alias="repoURL")
    pr_number: Int = Field(ge=1)
    provider: Provider | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
    poll_interval: Duration | None = None
