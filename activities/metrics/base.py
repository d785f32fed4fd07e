"""The contract of the metric provider activities (``measure-prometheus``, ``measure-web``,
``measure-job``).

The analysis workflow calls one activity per measurement. It hands over the metric's
``provider`` mapping exactly as in the AnalysisTemplate, with ``{{ args.* }}`` already
substituted, and gets back a :class:`MeasureResult`.

Phases follow Argo Rollouts:

* ``phase=None``: a value was measured; the workflow classifies it with the metric's
  ``successCondition`` / ``failureCondition`` (prometheus, web).
* ``phase="Successful"`` / ``"Failed"``: the verdict is intrinsic to the provider (job:
  the exit code).
* ``phase="Error"``: the provider could not measure (connection refused, bad query, HTTP
  5xx, bad provider config). This is *returned*, never raised, so the workflow counts it
  against ``consecutiveErrorLimit`` as Argo does. Only a programming error raises.

Secrets never appear here: credentials are looked up inside the activity by URL
(``activities.credentials``) and only ever put into request headers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from activities import credentials
from activities.pairs import PairsError, name_value_list
from contracts.metrics import MeasureRequest, MeasureResult

__all__ = ["MeasureRequest", "MeasureResult", "ConfigError", "error"]


#: Longest message kept in a result (history stays small).
MAX_MESSAGE = 4000


def error(message: str, **metadata: str) -> MeasureResult:
    """An Error measurement (the provider could not measure)."""
    return MeasureResult(phase="Error", message=message[:MAX_MESSAGE], metadata=dict(metadata))


class ConfigError(Exception):
    """The provider config is unusable; turned into an Error measurement."""


def provider_config(req: MeasureRequest, name: str) -> dict[str, Any]:
    """The provider's own mapping: ``req.provider[name]`` when the request carries the
    template's ``provider`` mapping, else ``req.provider`` itself."""
    cfg = req.provider
    if name in cfg and isinstance(cfg[name], dict) and len(cfg) == 1:
        return cfg[name]
    if name in cfg:
        raise ConfigError(f"provider.{name} must be a mapping")
    return cfg


def key_value_headers(cfg: dict[str, Any], field: str = "headers") -> list[tuple[str, str]]:
    """Argo's ``headers: [{key, value}]`` (``name`` is accepted for ``key``; ``activities.pairs``)."""
    try:
        return name_value_list(cfg.get(field), field, key="key", also="name")
    except PairsError as e:
        raise ConfigError(str(e)) from None


def lookup_auth(url: str, *types: str) -> dict[str, str]:
    """The ``Authorization`` header the credential store holds for ``url``: the first of
    ``types`` the store knows and has an entry for (e.g. ``prometheus`` then ``http``)."""
    from activities.http_client import auth_header

    for t in types:
        if t not in credentials.TYPES:
            continue
        creds = credentials.lookup(url, t)  # type: ignore[arg-type]
        if creds is not None:
            return auth_header(creds)
    return {}


def safe_name(text: str, fallback: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or fallback


def analysis_dir(run: str) -> Path:
    """``$GANTRY_WORK_DIR/analysis/<run>``: where an analysis run keeps job logs."""
    from activities.steps.base import work_root

    return work_root() / "analysis" / safe_name(run, "run")


def log_path(run: str, metric: str) -> Path:
    """``$GANTRY_WORK_DIR/analysis/<run>/<metric>.log``: a job metric's output, written as
    it runs (``gantry verification logs --follow`` tails it)."""
    return analysis_dir(run) / (safe_name(metric, "metric") + ".log")


def seconds(value: Any, field: str, default: float) -> float:
    """A timeout given as a number of seconds (Argo) or a Go duration string ("30s")."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ConfigError(f"{field} must be a number of seconds or a duration")
    if isinstance(value, (int, float)):
        result = float(value)
    else:
        text = str(value).strip()
        try:
            result = float(text)
        except ValueError:
            from pipeline.durations import parse_duration

            try:
                result = parse_duration(text).total_seconds()
            except ValueError as e:
                raise ConfigError(f"{field}: {e}") from None
    if result < 0:
        raise ConfigError(f"{field} must not be negative")
    return result if result > 0 else default
