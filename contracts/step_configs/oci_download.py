"""``oci-download``'s config (Kargo's oci-download-config.json)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from contracts.step_configs._types import Bool, NonEmpty, matching
from contracts.step_configs.base import StepConfig

#: Kargo's pattern: ``[oci://]host[:port]/path`` with a ``:tag`` or ``@digest``
IMAGE_REF = r"^(oci://)?[a-zA-Z0-9._-]+(:\d+)?(/[a-zA-Z0-9._-]+)*[@:][a-zA-Z0-9._:-]+$"


class OCIDownloadConfig(StepConfig):
    image_ref: Annotated[str, matching(IMAGE_REF, "an image reference with a tag or digest (host/repo:tag or host/repo@sha256:...)")]
    out_path: NonEmpty
    allow_overwrite: Bool = False
    media_type: NonEmpty | None = None
    insecure_skip_tls_verify: Bool = Field(default=False, alias="insecureSkipTLSVerify")
