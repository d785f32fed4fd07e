"""``http``'s config (Kargo's http-config.json). The ``*Expression`` fields are expressions
the step evaluates against the response, not ``${{ }}`` templates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from contracts.step_configs._types import Bool, Duration, NameValue, NamedExpression, NonEmpty, matching, one_of
from contracts.step_configs.base import StepConfig


class HTTPConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "`pollInterval` defaults to 30s (Kargo: 10s)",
        "`proxy` is passed to httpx; outputs must be JSON data",
    )

    url: NonEmpty
    method: Literal["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"] | None = None
    headers: list[NameValue] | None = None
    query_params: list[NameValue] | None = None
    body: str | None = None
    body_from_file: NonEmpty | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
    proxy: Annotated[str, matching(r"^https?://", "an http:// or https:// URL")] | None = None
    timeout: Duration | None = None
    poll_interval: Duration | None = None
    response_content_type: Literal["application/json", "application/yaml", "text/plain"] | None = None
    outputs: list[NamedExpression] | None = None
    success_expression: str | None = None
    failure_expression: str | None = None
    error_expression: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> HTTPConfig:
        if len(one_of(self, "body", "body_from_file")) > 1:
            raise ValueError("set 'body' or 'bodyFromFile', not both")
        return self
