"""``git-push``'s config (Kargo's git-push-config.json)."""

from __future__ import annotations

from pydantic import Field, model_validator

from contracts.step_configs._types import Bool, Int, NonEmpty, Provider, one_of
from contracts.step_configs.base import FieldError, StepConfig


class GitPushConfig(StepConfig):
    path: NonEmpty
    target_branch: str | None = None
    generate_target_branch: Bool = False
    tag: str | None = None
    force: Bool = False
    max_attempts: Int = Field(default=10, ge=1, le=2147483647)
    provider: Provider | None = None

    @model_validator(mode="after")
    def _one_target(self) -> GitPushConfig:
        if len(one_of(self, "target_branch", "generate_target_branch", "tag")) > 1:
            raise ValueError("set at most one of 'targetBranch', 'generateTargetBranch' and 'tag'")
        if self.tag and self.force:
            raise FieldError("force", "cannot be set when pushing a 'tag'")
        return self
