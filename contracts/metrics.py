"""The boundary between VerificationWorkflow and the metric provider activities
(`activities/metrics/`): one activity per provider of Argo Rollouts' AnalysisTemplates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: provider key in the template -> activity name.
PROVIDERS: dict[str, str] = {"prometheus": "measure-prometheus", "web": "measure-web", "job": "measure-job"}

MeasurementPhase = Literal["Successful", "Failed", "Error"]


class MeasureRequest(BaseModel):
    """What the workflow hands to a metric provider activity."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run: str = Field(description="analysis run id, used in log lines and log paths")
    metric: str = Field(description="the metric's name in the AnalysisTemplate")
    provider: dict[str, Any] = Field(
        description="the metric's `provider` mapping as in the template, e.g. "
        "{'prometheus': {...}}; the inner mapping alone is accepted too"
    )
    attempt: int = Field(default=1, description="Temporal attempt of this measurement (1-based)")
    index: int = Field(default=0, alias="measurementIndex", description="which measurement of the metric (0-based)")


class MeasureResult(BaseModel):
    """One measurement. ``value`` is JSON-able: a float, a list of floats, a dict, a
    string, an int (job exit code) or None. NaN and infinities are kept (serialised as the
    JSON extensions ``NaN``/``Infinity``, which Python's json reads back) because Argo
    conditions can test them (``isNaN(result)``)."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    value: Any = None
    phase: MeasurementPhase | None = None
    message: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
