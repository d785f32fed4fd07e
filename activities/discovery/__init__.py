"""Artifact discovery for Warehouses: one Temporal activity per subscription kind.

Contract (the WarehouseWorkflow calls these; each returns Kargo's DiscoveredArtifacts
entry for one subscription, newest/best first, at most ``discoveryLimit`` items):

* ``discover_images`` -> ``{"repoURL", "platform"?, "references": [{"tag", "digest",
  "annotations"?, "createdAt"?}]}``
* ``discover_git`` -> ``{"repoURL", "branch"?, "commits": [{"id", "branch"?, "tag"?,
  "subject", "author", "committer", "creatorDate"}]}``
* ``discover_charts`` -> ``{"repoURL", "name"?, "versions": ["1.2.3", ...]}``

Input: ``workflows.messages.DiscoveryRequest`` (the subscription as written in YAML, by
its Kargo field names). A configuration error (bad constraint or regex, unknown
repository) is a non-retryable ``ApplicationError`` of type ``DiscoveryError``; a
transient one (connection refused, 5xx) is retryable. Messages name the repository and
never carry credentials.

The modules are imported lazily, like ``activities.steps``, so workflow code can import
this package without pulling httpx or git code into the sandbox.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES: dict[str, tuple[str, str]] = {
    "image": ("activities.discovery.images", "discover_images"),
    "git": ("activities.discovery.git", "discover_git"),
    "chart": ("activities.discovery.charts", "discover_charts"),
}

from contracts.discovery import ACTIVITY_NAMES  # noqa: E402  (the names the modules' activities carry)

__all__ = ["ACTIVITY_NAMES", "DISCOVERY_ACTIVITIES"]


def __getattr__(name: str) -> Any:
    if name == "DISCOVERY_ACTIVITIES":
        value = [getattr(importlib.import_module(m), fn) for m, fn in _MODULES.values()]
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
