"""``git-commit``'s config (Kargo's git-commit-config.json), plus ``messageFromSteps``, which
Kargo had until v1.3 and Gantry still honours: the message from earlier steps' outputs.
An empty ``message`` (an expression that rendered to nothing) gets Gantry's default message."""

from __future__ import annotations

from pydantic import model_validator

from contracts.step_configs._types import GitAuthor, NonEmpty, one_of
from contracts.step_configs.base import FieldError, StepConfig


class GitCommitConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "an empty `message` (an expression that rendered to nothing) gets Gantry's default message",
    )
    GANTRY_FIELDS = {
        "messageFromSteps": "from Kargo before v1.3: the message from earlier steps' `commitMessage` outputs",
    }

    path: NonEmpty
    message: str | None = None
    message_from_steps: list[NonEmpty] | None = None
    author: GitAuthor | None = None

    @model_validator(mode="after")
    def _one_message(self) -> GitCommitConfig:
        given = one_of(self, "message", "message_from_steps")
        if len(given) > 1:
            raise ValueError("set one of 'message' and 'messageFromSteps', not both")
        if self.message is None and self.message_from_steps is None:
            raise FieldError("message", "required (or 'messageFromSteps')")
        return self
