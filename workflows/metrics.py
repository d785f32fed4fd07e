"""Gantry's own metrics, recorded from workflow code through the Temporal SDK's metric meter,
so they leave through the same exporter as the SDK's (`gantry worker --metrics-port`).

The SDK drops what a workflow records while it replays, so each event is counted once however
often a history is replayed, and recording adds no command: workflow code may call these
anywhere. Labels are bounded: project, stage, warehouse, step kind and phase, never a
Freight, promotion or error text (the SDK adds namespace, task_queue and workflow_type).
Names (the exporter adds `_total` to counters): `gantry_promotions`, `gantry_step_duration_seconds`,
`gantry_verifications`, `gantry_stage_lock_queue`, `gantry_freight_lead_time_seconds`,
`gantry_warehouse_discovery_seconds`, `gantry_warehouse_discovery_errors`.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


def _meter():
    return workflow.metric_meter()


def promotion_ended(project: str, stage: str, phase: str) -> None:
    _meter().create_counter("gantry_promotions", "promotions that ended, by phase").add(
        1, {"project": project, "stage": stage, "phase": phase}
    )


def step_ended(uses: str, status: str, started_at: datetime | None, finished_at: datetime | None) -> None:
    if started_at is None or finished_at is None:
        return
    _meter().create_histogram_float("gantry_step_duration_seconds", "a step's run time, by step kind", "s").record(
        max(0.0, (finished_at - started_at).total_seconds()), {"step": uses, "status": status}
    )


def verification_ended(project: str, stage: str, phase: str) -> None:
    _meter().create_counter("gantry_verifications", "verification runs that ended, by phase").add(
        1, {"project": project, "stage": stage, "phase": phase or "Unknown"}
    )


def lock_queue(project: str, stage: str, waiting: int) -> None:
    _meter().create_gauge("gantry_stage_lock_queue", "promotions waiting for the Stage's lock").set(
        waiting, {"project": project, "stage": stage}
    )


def freight_lead_time(project: str, stage: str, discovered_at: str | None, arrived_at: datetime) -> None:
    """From the Freight's discovery (or creation) to its arrival in the Stage."""
    if not discovered_at:
        return
    try:
        since = datetime.fromisoformat(discovered_at)
    except ValueError:
        return
    _meter().create_histogram_float(
        "gantry_freight_lead_time_seconds", "from a Freight's discovery to its arrival in a Stage", "s"
    ).record(max(0.0, (arrived_at - since).total_seconds()), {"project": project, "stage": stage})


def discovery_ended(project: str, warehouse: str, started_at: datetime, ended_at: datetime, failed: bool) -> None:
    meter = _meter()
    labels = {"project": project, "warehouse": warehouse}
    meter.create_histogram_float("gantry_warehouse_discovery_seconds", "a Warehouse's discovery pass", "s").record(
        max(0.0, (ended_at - started_at).total_seconds()), labels
    )
    if failed:
        meter.create_counter("gantry_warehouse_discovery_errors", "discovery passes that failed").add(1, labels)
