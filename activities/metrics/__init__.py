"""Metric providers of Argo Rollouts' AnalysisTemplates, as Temporal activities.

One module per provider; each exposes one async activity taking a
:class:`~activities.metrics.base.MeasureRequest` and returning a
:class:`~activities.metrics.base.MeasureResult`. ``PROVIDERS`` maps the key under a
metric's ``provider:`` to the activity name the analysis workflow calls.

The provider modules are imported lazily (on first use of ``METRIC_ACTIVITIES``), so
workflow code can import ``activities.metrics.base`` / ``PROVIDERS`` without pulling
httpx or subprocess code into the workflow sandbox.
"""

from __future__ import annotations

import importlib
from typing import Any

from contracts.metrics import PROVIDERS

_MODULES: dict[str, tuple[str, str]] = {
    "measure-prometheus": ("activities.metrics.prometheus", "measure_prometheus"),
    "measure-web": ("activities.metrics.web", "measure_web"),
    "measure-job": ("activities.metrics.job", "measure_job"),
}


def activity_for(provider: dict[str, Any]) -> str | None:
    """The activity name for a metric's ``provider`` mapping, or None if unsupported."""
    for key in provider:
        if key in PROVIDERS:
            return PROVIDERS[key]
    return None


def __getattr__(name: str) -> Any:
    if name == "METRIC_ACTIVITIES":
        return [getattr(importlib.import_module(m), f) for m, f in _MODULES.values()]
    raise AttributeError(name)


__all__ = ["METRIC_ACTIVITIES", "PROVIDERS", "activity_for"]
