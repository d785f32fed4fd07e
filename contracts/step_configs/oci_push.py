"""Config of `oci-push` (Kargo's OCIPushConfig)."""

from __future__ import annotations

from pydantic import Field

from contracts.step_configs.base import StepConfig

#: Kargo's schema patterns: a source with a tag or digest, a destination with a tag
_SRC = r"^(oci://)?[a-zA-Z0-9._-]+(:\d+)?(/[a-zA-Z0-9._-]+)*[@:][a-zA-Z0-9._:-]+$"
_DEST = r"^(oci://)?[a-zA-Z0-9._-]+(:\d+)?(/[a-zA-Z0-9._-]+)*[:][a-zA-Z0-9._-]+$"


class OCIPushConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "the 1 GiB size limit is fixed (Kargo's administrator can change it)",
    )

    src_ref: str = Field(min_length=1, pattern=_SRC)
    dest_ref: str = Field(min_length=1, pattern=_DEST)
    #: ``index:``/``manifest:``-prefixed keys scope an annotation; unprefixed ones go on the image manifest
    annotations: dict[str, str] | None = None
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")
