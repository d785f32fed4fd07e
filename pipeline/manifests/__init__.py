"""Kargo manifests: models, parsing, the applied set and its validation.

Pure code (no file or network I/O, no clock, no randomness): it is imported inside
Temporal's workflow sandbox. File reading lives in ``client.manifests``.
"""

from pipeline.manifests.models import *  # noqa: F401,F403
from pipeline.manifests.models import (  # noqa: F401
    CLUSTER_SCOPED,
    MODELS,
    KargoModel,
    Manifest,
    api_version_of,
)
