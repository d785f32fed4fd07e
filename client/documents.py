"""What `gantry get ... -o json|yaml` prints: Kargo-shaped documents (docs/cli.md).

Pure functions from the client's models and records to documents: `apiVersion`, `kind`,
`metadata.name`/`metadata.namespace` (the project), camelCase `spec` and `status`, and
every timestamp in one form, RFC 3339 in UTC to the second (`2026-12-01T10:00:00Z`). Lists
are `{"apiVersion": "v1", "kind": "List", "items": [...]}`. Facts Kargo has no field for
stay in `status`, under names of their own (`workflowId`, `lock`, `soak`, ...).

The schemas these documents follow are in docs/schemas/ (one per kind).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from pipeline.auto_promotion import auto_promotion_enabled, policy_for
from pipeline.availability import human, soak_end
from pipeline.manifests.manifest_set import ProjectManifests
from pipeline.manifests.models import PromotionPolicy
from pipeline.durations import format_duration, parse_duration, parse_time

KARGO_API = "kargo.akuity.io/v1alpha1"
ROLLOUTS_API = "argoproj.io/v1alpha1"
#: Kargo's annotation for who created a Promotion
ACTOR_ANNOTATION = "kargo.akuity.io/create-actor"

#: keys whose values are timestamps, wherever they are in a document
_TIME_KEY = re.compile(r"(At|Time|Timestamp|^since|^until|^createdAt|^creatorDate)$")


# -- timestamps ---------------------------------------------------------------------------


def rfc3339(value: Any) -> str | None:
    """A datetime, or an ISO 8601 / RFC 3339 string, as `2026-12-01T10:00:00Z` (UTC, whole
    seconds); None stays None, and a value that is no time is returned as is."""
    moment = parse_time(value)
    if moment is None:
        return value
    if moment.tzinfo is None:  # Gantry writes UTC; a naive time is one of those
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_times(value: Any, key: str = "") -> Any:
    """Every timestamp in a nested document as `rfc3339` writes it (keys such as
    `startedAt`, `finishTime`, `creationTimestamp`, `since`), enums as their values; other
    values unchanged."""
    if isinstance(value, dict):
        return {k: normalize_times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_times(v, key) for v in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Enum):  # e.g. an AnalysisPhase: its plain value
        value = value.value
    if isinstance(value, str) and key and _TIME_KEY.search(key):
        return rfc3339(value)
    return value


def _clean(value: Any) -> Any:
    """Drop None values and empty mappings/lists from a document (Kargo's `omitempty`)."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def document(kind: str, name: str, namespace: str | None, *, spec: Any = None, status: Any = None,
             api_version: str = KARGO_API, metadata: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in (metadata or {}).items() if v not in (None, {}, [])})
    doc: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    doc.update({k: v for k, v in top.items() if v is not None})
    if spec is not None:
        doc["spec"] = _clean(spec)
    doc["status"] = _clean(status or {})
    return normalize_times(doc)


def item_list(items: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    """A list of documents, as kubectl prints one; `metadata.continue` is the next page."""
    listed: dict[str, Any] = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}
    if next_token:
        listed["metadata"]["continue"] = next_token
    return listed


def short_name(workflow_id: str | None) -> str:
    """A promotion's (or verification's) name: the last segment of its workflow id."""
    return (workflow_id or "").rsplit("/", 1)[-1]


# -- projects -----------------------------------------------------------------------------


def project_document(name: str) -> dict[str, Any]:
    return document("Project", name, None, status={"workflowId": f"project/{name}"})


def policy_text(policy: PromotionPolicy) -> str:
    """A promotion policy's selector in one line: `name=glob:dev-*, tier in (dev)`."""
    selector = policy.stage_selector
    if selector is None:
        return f"stage={policy.stage}"
    parts = [f"name={selector.name}"] if selector.name else []
    labels = selector.labels().query()
    return ", ".join(parts + ([labels] if labels else [])) or "(every stage)"


def project_config_document(project: str, manifests: ProjectManifests) -> dict[str, Any]:
    """The ProjectConfig as applied; Gantry's `status.stages` says, per Stage, which policy
    decides for it (the first that selects it) and whether auto-promotion is on there."""
    config = manifests.project_config
    assert config is not None
    stages = []
    for name in sorted(manifests.stages):
        index = policy_for(config, manifests.stages[name])
        stages.append({"name": name, "policy": index, "autoPromotionEnabled": auto_promotion_enabled(config, manifests.stages[name])})
    return document(
        "ProjectConfig", config.metadata.name, project, spec=config.to_yaml_dict().get("spec") or {},
        status={"workflowId": f"project/{project}", "stages": stages},
        metadata={"labels": config.metadata.labels, "annotations": config.metadata.annotations},
    )  # fmt: skip


# -- freight ------------------------------------------------------------------------------


def freight_reference(record: dict[str, Any] | None, name: str = "") -> dict[str, Any]:
    """Kargo's FreightReference: name, origin and artifacts."""
    record = record or {}
    return _clean(
        {
            "name": record.get("name") or name,
            "origin": record.get("origin"),
            "images": record.get("images"),
            "commits": record.get("commits"),
            "charts": record.get("charts"),
        }
    )


def freight_document(record: dict[str, Any], project: str) -> dict[str, Any]:
    """A Freight record (FreightWorkflow memo, or the catalog of old) as Kargo's Freight."""
    from pipeline.freight import freight_document as kargo_freight

    return normalize_times(kargo_freight(record, project))


# -- warehouses ---------------------------------------------------------------------------


def warehouse_document(project: str, name: str, manifest: dict[str, Any] | None, status: Any) -> dict[str, Any]:
    """A Warehouse: the spec as applied, the status of its WarehouseWorkflow (None: not started)."""
    state: dict[str, Any] = {"workflowId": f"warehouse/{project}/{name}"}
    if status is None:
        state["phase"] = "NotStarted"
    else:
        state.update(
            {
                "phase": "Error" if status.error else ("Discovering" if status.discovering else "Ready"),
                "lastFreightID": status.last_freight,
                "lastFreightAlias": status.last_freight_alias,
                "discoveredArtifacts": status.discovered,
                "lastPassAt": status.last_pass_at,
                "nextPassAt": status.next_pass_at,
                "error": status.error,
                "message": status.message,
                "discovering": status.discovering or None,
                "passes": status.passes,
                "failedPasses": status.failed_passes,
                "garbageCollectedAt": status.garbage_collected_at,
            }
        )
    return document("Warehouse", name, project, spec=(manifest or {}).get("spec") or {}, status=state)


# -- promotions ---------------------------------------------------------------------------


def promotion_from_listing(project: str, row: dict[str, Any]) -> dict[str, Any]:
    """A promotion as visibility lists it (`Gantry.promotions`): what the list shows without
    asking each workflow; `get promotion NAME` has every step."""
    return document(
        "Promotion",
        short_name(row["id"]),
        project,
        metadata={"creationTimestamp": row.get("started")},
        spec={"stage": row.get("stage"), "freight": row.get("freight")},
        status={
            "phase": row.get("phase") or ("Pending" if row.get("status") == "running" else None),
            "finishedAt": row.get("finished"),
            "workflowId": row["id"],
            "workflowStatus": row.get("status"),
        },
    )


def promotion_document(project: str, status: Any) -> dict[str, Any]:
    """A promotion from its workflow's `status` (a PromotionStatus)."""
    steps = []
    for step in status.steps:
        spec_step: dict[str, Any] = {"uses": step.uses, "as": step.alias}
        if step.continue_on_error:
            spec_step["continueOnError"] = True
        if step.config is not None:
            spec_step["config"] = step.config
        steps.append(spec_step)
    executions = [
        {
            "alias": step.alias,
            "status": step.status,
            "startedAt": step.started_at,
            "finishedAt": step.finished_at,
            "errorCount": step.error_count or None,
            "message": step.message,
            "summary": step.summary,
            "continueOnError": step.continue_on_error or None,
        }
        for step in status.steps
    ]
    current = status.current_step
    verification = {
        "phase": status.verification.split(":", 1)[0] if status.verification else None,
        "message": status.verification,
        "id": status.verification_id,
        "verifiedAt": status.verified_at,
    }
    return document(
        "Promotion",
        short_name(status.name),
        project or status.project,
        metadata={
            "creationTimestamp": status.started_at,
            "annotations": {ACTOR_ANNOTATION: status.actor} if status.actor else None,
        },
        spec={"stage": status.stage, "freight": status.freight, "steps": steps},
        status={
            "phase": status.phase,
            "message": status.message,
            "freight": {"name": status.freight, "alias": status.freight_alias or None},
            "currentStep": current,
            "stepExecutionMetadata": executions,
            "state": status.state,
            "finishedAt": status.finished_at,
            "workflowId": status.name,
            "health": {"status": status.health} if status.health else None,
            "verification": verification,
            "dryRun": status.dry_run or None,
            "diff": status.diff,
            "restarts": status.restarts or None,
            "workerQueue": status.worker_queue,
        },
    )


# -- verification runs --------------------------------------------------------------------


def verification_info(project: str, run: dict[str, Any]) -> dict[str, Any]:
    """A verification run kept by a Stage as Kargo's VerificationInfo."""
    return _clean(
        {
            "id": run.get("id"),
            "phase": run.get("phase"),
            "message": run.get("message"),
            "startTime": rfc3339(run.get("startedAt")),
            "finishTime": rfc3339(run.get("finishedAt")),
            "analysisRun": {"namespace": project, "name": short_name(run.get("id")), "phase": run.get("phase") or ""}
            if run.get("id")
            else None,
        }
    )


def analysis_run_document(project: str, status: Any) -> dict[str, Any]:
    """A VerificationWorkflow's status as Argo Rollouts' AnalysisRun."""
    import json

    results = []
    for metric in status.metrics:
        counts: dict[str, int] = {}
        for m in metric.measurements:
            counts[m.phase] = counts.get(m.phase, 0) + 1
        results.append(
            {
                "name": metric.name,
                "phase": metric.phase,
                "dryRun": metric.dry_run or None,
                "count": len(metric.measurements),
                "successful": counts.get("Successful"),
                "failed": counts.get("Failed"),
                "inconclusive": counts.get("Inconclusive"),
                "error": counts.get("Error"),
                "measurements": [
                    {
                        "phase": m.phase,
                        "message": m.message,
                        "startedAt": m.started_at,
                        "finishedAt": m.finished_at,
                        # Argo keeps a measurement's value as a string
                        "value": m.value if isinstance(m.value, str) else json.dumps(m.value),
                    }
                    for m in metric.measurements
                ],
            }
        )
    return document(
        "AnalysisRun",
        short_name(status.id),
        project or None,
        api_version=ROLLOUTS_API,
        metadata={"labels": {"kargo.akuity.io/stage": status.stage, "kargo.akuity.io/freight": status.freight}},
        spec={},
        status={
            "phase": status.phase,
            "message": status.message,
            "startedAt": status.started_at,
            "finishedAt": status.finished_at,
            "metricResults": results,
            "workflowId": status.id,
        },
    )


# -- stages -------------------------------------------------------------------------------


@dataclass
class StageFacts:
    """What the client gathered about one Stage (client.api.Gantry.stage_facts)."""

    view: Any  # workflows.messages.StageView
    manifest: dict[str, Any] = field(default_factory=dict)
    lock: Any = None  # StageLockView | None
    verifications: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    #: Freight records by name: the current one, and (for documents) those of the history
    freight: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the status of the promotion holding the lock (a PromotionStatus), if any
    holder: Any = None
    #: the Stage's newest ended promotion as visibility lists it (Gantry.promotions rows)
    last_promotion: dict[str, Any] | None = None


def current_verification(facts: StageFacts) -> dict[str, Any] | None:
    """The latest verification of the Stage's current Freight: the holder's running one, else
    the newest the Stage kept for that Freight; None when none ran."""
    current = facts.view.freight
    if not current:
        return None
    holder = facts.holder
    if holder is not None and holder.verification == "Running" and holder.freight == current:
        return {"id": holder.verification_id, "freight": current, "phase": "Running"}
    return next((v for v in facts.verifications if v.get("freight") == current), None)


@dataclass
class Soak:
    downstream: str
    required: timedelta
    until: datetime | None


def soaks(name: str, record: dict[str, Any] | None, stages: dict[str, Any]) -> list[Soak]:
    """For each downstream Stage that requires soak in Stage `name` for Freight of the current
    Freight's origin: when the current Freight will have soaked enough (None: not yet
    verified here, so the soak has not started). `stages`: name -> pipeline Stage model."""
    if not record:
        return []
    origin = record.get("origin") or {}
    found = []
    for downstream, stage in sorted(stages.items()):
        for request in stage.spec.requested_freight:
            if request.origin.name != origin.get("name") or request.origin.kind != origin.get("kind", "Warehouse"):
                continue
            sources = request.sources
            if name not in (sources.stages or []) or not sources.required_soak_time:
                continue
            required = parse_duration(sources.required_soak_time)
            found.append(Soak(downstream, required, soak_end(record, name, required)))
    return found


def soak_text(found: list[Soak], now: datetime) -> str:
    """The longest soak left towards any downstream Stage (`4m10s left`), `done`, or empty."""
    left = [s.until - now for s in found if s.until is not None and s.until > now]
    if left:
        return f"{human(max(left))} left"
    if any(s.until is not None for s in found):
        return "done"
    return ""


def stage_health(facts: StageFacts, verification: dict[str, Any] | None) -> dict[str, Any]:
    """Gantry's reading of a Stage's health (Kargo's `status.health` shape): Progressing while a
    promotion holds it or verification runs, Unhealthy when the current Freight's latest
    verification failed, Healthy with Freight otherwise, Unknown without Freight."""
    if facts.lock is not None and facts.lock.holder:
        return {"status": "Progressing", "issues": [f"promotion {short_name(facts.lock.holder)} is running"]}
    if not facts.view.freight:
        return {"status": "Unknown", "issues": ["the stage has no freight"]}
    phase = (verification or {}).get("phase")
    if phase == "Running":
        return {"status": "Progressing", "issues": ["verification is running"]}
    if phase and phase != "Successful":
        return {"status": "Unhealthy", "issues": [f"verification {phase}: {verification.get('message') or ''}".rstrip(": ")]}
    return {"status": "Healthy"}


def stage_document(project: str, facts: StageFacts, stages: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A Stage: its spec as applied; in status Kargo's freightHistory (verification runs in
    each entry), currentPromotion, lastPromotion, health; and Gantry's lock and soak."""
    view = facts.view
    runs_by_freight: dict[str, list[dict[str, Any]]] = {}
    for run in facts.verifications:
        runs_by_freight.setdefault(run.get("freight") or "", []).append(verification_info(project, run))
    visits = facts.visits or (
        [{"freight": view.freight, "since": view.since, "promotion": view.promotion}] if view.freight else []
    )
    history = []
    for visit in visits:
        record = facts.freight.get(visit["freight"])
        ref = freight_reference(record, visit["freight"])
        origin = (record or {}).get("origin") or {}
        key = f"{origin.get('kind', 'Warehouse')}/{origin['name']}" if origin.get("name") else visit["freight"]
        history.append(
            {
                "id": visit["freight"],
                "items": {key: ref},
                "verificationHistory": runs_by_freight.get(visit["freight"]),
                "since": visit.get("since"),
                "until": visit.get("until"),
                "promotion": short_name(visit.get("promotion")) or None,
            }
        )
    verification = current_verification(facts)
    lock = facts.lock
    holder = facts.holder
    current_promotion = None
    if lock is not None and lock.holder:
        current_promotion = {
            "name": short_name(lock.holder),
            "freight": {"name": holder.freight} if holder is not None else None,
            "status": {"phase": holder.phase} if holder is not None else None,
        }
    last = facts.last_promotion
    last_promotion = None
    if last:
        last_promotion = {
            "name": short_name(last["id"]),
            "freight": {"name": last.get("freight")} if last.get("freight") else None,
            "status": {"phase": last.get("phase")} if last.get("phase") else None,
            "finishedAt": last.get("finished"),
        }
    found = soaks(view.name, facts.freight.get(view.freight or ""), stages)
    status = {
        "freightSummary": view.freight_alias or (view.freight or "")[:7] or None,
        "freightHistory": history,
        "currentPromotion": current_promotion,
        "lastPromotion": last_promotion,
        "health": stage_health(facts, verification),
        "verification": verification_info(project, verification) if verification else None,
        "lock": {
            "holder": short_name(lock.holder) or None,
            "grantedAt": lock.granted_at,
            "queue": [short_name(q) for q in lock.queue],
            "pendingAutoPromotions": [
                {"freight": name, "soakUntil": until} for name, until in sorted(lock.pending.items(), key=lambda i: i[1])
            ],
        }
        if lock is not None
        else None,
        "soak": [
            {
                "downstream": s.downstream,
                "requiredSoakTime": format_duration(s.required),
                "soakedAt": s.until,
                "remaining": format_duration(max(s.until - now, timedelta(0))) if s.until else None,
            }
            for s in found
        ],
        "workflowId": f"stage/{project}/{view.name}",
    }
    return document("Stage", view.name, project, spec=(facts.manifest or {}).get("spec") or {}, status=status)
