"""The boundary between PromotionWorkflow and the step activities (`activities/steps/`):
one activity per step, named as Kargo names the step (`git-clone`, `git-push`...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.expressions.data import PromotionData

#: Error type of a failure that retrying cannot fix (bad config, missing file...).
STEP_FAILED = "StepFailed"
#: Error type raised when the working directory of a promotion is not on this worker.
WORKDIR_LOST = "WorkdirLost"
#: Error type of a step its worker cut off when it stopped (SIGTERM, the grace period over):
#: not the step's fault; the promotion asks again, as after a heartbeat timeout.
WORKER_STOPPED = "WorkerStopped"


class StepRef(BaseModel):
    """An earlier (or later) step of the same promotion, for cross-step lookups."""

    alias: str
    uses: str


class StepInput(BaseModel):
    """What the workflow hands to a step activity."""

    model_config = ConfigDict(extra="forbid")

    promotion: str = Field(description="promotion id, also the name of the working directory")
    project: str
    stage: str
    alias: str = Field(description="the step's alias (`as`, else step-N)")
    uses: str
    config: dict[str, Any] = Field(default_factory=dict, description="rendered step config")
    freight: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Freight being promoted, as Kargo Freight documents flattened to "
        "{name, alias, origin{kind,name}, images[], commits[], charts[]}",
    )
    outputs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="outputs of the steps that ran before, by alias"
    )
    steps: list[StepRef] = Field(default_factory=list, description="every step of the promotion, in order")
    # left out when None, so a worker of the previous code (extra fields forbidden) still
    # takes the steps of promotions that use no secret()
    secrets: SecretFields | None = Field(
        default=None, description="config fields the worker renders (secret())", exclude_if=lambda v: v is None
    )


class SecretFields(BaseModel):
    """Config fields whose templates call secret()/sharedSecret(): the workflow leaves them as
    written and the step's worker renders them (activities/step_secrets.py), with the same
    environment the workflow would have used, so no secret value enters the history."""

    model_config = ConfigDict(extra="forbid")

    paths: list[list[str | int]] = Field(description="where the templates are in `config`, key by key")
    vars: dict[str, Any] = Field(default_factory=dict, description="the step's resolved vars")
    step_statuses: dict[str, Any] = Field(default_factory=dict, description="earlier steps, for success() & co.")
    actor: str | None = None
    rollback: bool = False
    now: datetime | None = Field(default=None, description="what now() returns (the workflow's time)")
    data: PromotionData = Field(default_factory=PromotionData)


StepStatus = Literal["Succeeded", "Skipped", "Failed", "Errored", "Running"]


class StepResult(BaseModel):
    """What a step returns. `outputs` become `outputs['<alias>']` for later steps."""

    status: StepStatus = "Succeeded"
    outputs: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    poll_after: float | None = Field(
        default=None, description="Running: call the step again no sooner than this many seconds (a provider's rate limit)"
    )
