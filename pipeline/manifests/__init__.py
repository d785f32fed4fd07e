"""Kargo manifests: models, parsing, the applied set and its validation.

Pure code (no file or network I/O, no clock, no randomness): it is imported inside
Temporal's workflow sandbox. File reading lives in ``client.manifests``.

    docs = parse_documents(text, "stages.yaml")            # YAML -> SourceDocuments
    items = [load_sourced(d, default_project) for d in docs]  # -> validated models + source
    new = current.merge([i for i in items if i.kind != "Freight"])
    validate_set(new)                                      # ManifestError lists every problem
"""

from pipeline.manifests.errors import ManifestError, ManifestIssue, format_path
from pipeline.manifests.manifest_set import ManifestSet, ProjectManifests, source_key
from pipeline.manifests.models import *  # noqa: F401,F403
from pipeline.manifests.models import (  # noqa: F401
    CLUSTER_SCOPED,
    MODELS,
    KargoModel,
    Manifest,
    api_version_of,
)
from pipeline.manifests.parse import (
    NAMESPACE_REQUIRED,
    SourceDocument,
    SourcedManifest,
    SourceRef,
    document_label,
    load_document,
    load_sourced,
    parse_documents,
)
from pipeline.manifests.steps import ENTERPRISE_STEPS, KNOWN_STEPS, OSS_STEPS, RUNNABLE_STEPS
from pipeline.manifests.validate import MANIFESTS_LIMIT, check_size, set_issues, stage_cycles, validate_set

__all__ = [  # noqa: F405 - plus every model name from pipeline.manifests.models
    "ManifestError", "ManifestIssue", "format_path",
    "ManifestSet", "ProjectManifests", "source_key",
    "SourceDocument", "SourcedManifest", "SourceRef", "NAMESPACE_REQUIRED",
    "document_label", "load_document", "load_sourced", "parse_documents",
    "KNOWN_STEPS", "OSS_STEPS", "ENTERPRISE_STEPS", "RUNNABLE_STEPS",
    "validate_set", "set_issues", "stage_cycles", "check_size", "MANIFESTS_LIMIT",
    "KargoModel", "Manifest", "MODELS", "CLUSTER_SCOPED", "api_version_of",
]
from pipeline.manifests import models as _models  # noqa: E402

__all__ += [n for n in _models.__all__ if n not in __all__]
