"""Logging for every Gantry process that logs (`gantry worker`, `gantry dev`, `worker.py`).

One renderer for structlog's loggers (``structlog.get_logger``) and the standard library's
(temporalio's own loggers, ``activity.logger``, ``workflow.logger``): a console renderer on a
terminal, JSON lines otherwise, or as ``--log-format`` / GANTRY_LOG_FORMAT asks.

Each line from a workflow or an activity carries the fields Temporal's logger adapters put in
``extra`` (``temporal_workflow`` / ``temporal_activity``, flattened: workflow_id,
workflow_type, activity_type, attempt, task_queue...) and Gantry's project, stage and promotion
or warehouse: from the workflow id (``promotion/<project>/<stage>/<name>``...), and for an
activity from the context its interceptor binds (client/worker.py: a step's StepInput fields,
with the step alias as ``step``). ``workflow.logger`` keeps skipping replay (its default).

Credentials never reach a log line from here: the fields are names and ids, not configs.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog
from temporalio import activity, workflow

LOG_FORMAT_ENV = "GANTRY_LOG_FORMAT"
FORMATS = ("console", "json")

#: workflow id prefix -> the Gantry fields its remaining parts name
_ID_FIELDS = {
    "promotion": ("project", "stage", "promotion"),
    "verification": ("project", "stage", "verification"),
    "stage": ("project", "stage"),
    "project": ("project",),
    "warehouse": ("project", "warehouse"),
    "freight": ("project", "freight"),
    "freight-alias": ("project", "freight_alias"),
}
_WORKFLOW_KEYS = ("workflow_id", "workflow_type", "run_id", "task_queue", "attempt", "namespace")
_ACTIVITY_KEYS = ("activity_id", "activity_type", "attempt", "task_queue", "workflow_id", "workflow_type", "namespace")


def gantry_fields_from_workflow_id(workflow_id: str) -> dict[str, str]:
    """``promotion/p/dev/dev.abc`` -> project p, stage dev, promotion ``promotion/p/dev/dev.abc``
    (the promotion's full id, as StepInput.promotion names it)."""
    kind, _, rest = workflow_id.partition("/")
    names = _ID_FIELDS.get(kind)
    if not names or not rest:
        return {}
    parts = rest.split("/", len(names) - 1)
    fields = dict(zip(names, parts))
    if kind == "promotion" and len(parts) == len(names):
        fields["promotion"] = workflow_id
    return fields


def temporal_fields(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Flatten ``temporal_workflow`` / ``temporal_activity`` (the SDK adapters' ``extra``)
    into the line, and add the Gantry fields their workflow id names (bound ones win)."""
    for key, wanted in (("temporal_workflow", _WORKFLOW_KEYS), ("temporal_activity", _ACTIVITY_KEYS)):
        details = event.pop(key, None)
        if isinstance(details, dict):
            for name in wanted:
                if name in details and name not in event:
                    event[name] = details[name]
    workflow_id = event.get("workflow_id")
    if isinstance(workflow_id, str):
        for name, value in gantry_fields_from_workflow_id(workflow_id).items():
            event.setdefault(name, value)
    return event


def resolve_format(explicit: str | None = None, stream: TextIO | None = None) -> str:
    value = (explicit or os.environ.get(LOG_FORMAT_ENV, "") or "").strip().lower()
    if not value:
        stream = stream or sys.stderr
        return "console" if getattr(stream, "isatty", lambda: False)() else "json"
    if value not in FORMATS:
        raise ValueError(f"the log format is console or json, not {value!r} ({LOG_FORMAT_ENV})")
    return value


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that may render inside the workflow sandbox (timestamps, the
    environment): a workflow's own log line runs it there."""

    def emit(self, record: logging.LogRecord) -> None:
        if workflow.unsafe.in_sandbox():
            with workflow.unsafe.sandbox_unrestricted():
                super().emit(record)
        else:
            super().emit(record)


_configured: str | None = None


def configure_logging(fmt: str | None = None, *, stream: TextIO | None = None, level: int = logging.INFO) -> str:
    """Configure structlog and the standard library's root logger (once per process; a
    second call replaces the first). Returns the format in use."""
    global _configured
    stream = stream or sys.stderr
    chosen = resolve_format(fmt, stream)
    timestamper = structlog.processors.TimeStamper(fmt="iso" if chosen == "json" else "%Y-%m-%d %H:%M:%S", utc=chosen == "json")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        temporal_fields,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer: Any
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer(default=str)
        tail: list[Any] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
        tail = []
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
    )
    handler = _Handler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # the fields go on the line as fields, not appended to the message
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    _configured = chosen
    return chosen
