"""``git-open-pr``'s config (Kargo's git-open-pr-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import Bool, NonEmpty, Provider
from contracts.step_configs.base import StepConfig


class GitOpenPRConfig(StepConfig):
    repo_url: NonEmpty = Field(alias="repoURL")
    source_branch: NonEmpty
    target_branch: NonEmpty
    create_target_branch: Bool = False
    title: NonEmpty | None = None
    description: NonEmpty | None = None
    labels: list[NonEmpty] | None = None
    provider: Provider | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
