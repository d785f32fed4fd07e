"""``kustomize-set-image``'s config (Kargo's kustomize-set-image-config.json), plus
``images[].useDigest`` from Kargo before v1.3, which Gantry still honours. As in Kargo
before v1.3, an image with neither ``tag`` nor ``digest`` takes the Freight's."""

from __future__ import annotations

from pydantic import model_validator

from contracts.step_configs._types import Bool, NonEmpty, one_of
from contracts.step_configs.base import FieldError, StepConfig


class ImageUpdate(StepConfig):
    KARGO_DIFFERENCES = (
        "an image with neither `tag` nor `digest` takes the Freight's (as Kargo before v1.3)",
    )
    GANTRY_FIELDS = {
        "useDigest": "from Kargo before v1.3: set the Freight's digest rather than its tag",
    }

    image: NonEmpty
    name: str | None = None
    new_name: str | None = None
    tag: str | None = None
    digest: str | None = None
    use_digest: Bool = False

    @model_validator(mode="after")
    def _tag_or_digest(self) -> ImageUpdate:
        if len(one_of(self, "tag", "digest")) > 1:
            raise FieldError("tag", "set 'tag' or 'digest', not both")
        return self


class KustomizeSetImageConfig(StepConfig):
    path: NonEmpty
    images: list[ImageUpdate] | None = None
