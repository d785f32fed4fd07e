"""``http-download``'s config (Kargo's http-download-config.json)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs._types import Bool, Duration, NameValue, NonEmpty
from contracts.step_configs.base import StepConfig


class HTTPDownloadConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "a file this same step already downloaded from the same URL counts as done (tracked under `.gantry/downloads/`)",
    )

    url: NonEmpty
    out_path: NonEmpty
    allow_overwrite: Bool = False
    headers: list[NameValue] | None = None
    query_params: list[NameValue] | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
    timeout: Duration | None = None
