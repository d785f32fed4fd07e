"""`argocd-wait`: wait until Argo CD Applications reach the wanted health and sync, as
Kargo's step does, through Argo CD's REST API (the worker's Argo CD and credential, as for
``argocd-update``). Unlike ``argocd-update`` no ``authorized-stage`` annotation is needed:
the step only reads.

One look per call. Each app (by ``name``, or every app a ``selector`` matches) is judged
with its ``waitFor`` (default ``[health, sync, operation]``):

* an Application condition ``ComparisonError`` or ``InvalidSpecError`` fails the step;
* ``operation``: no operation is running;
* ``health`` / ``suspended`` / ``degraded`` (OR'd): health is Healthy / Suspended /
  Degraded; a health read before Argo CD reconciled the app after its last operation is
  not trusted (a refresh is asked for, and the step waits); with ``health``, an app whose
  health falls to Degraded from a state seen earlier in this wait that was neither Degraded
  nor Unknown fails the step at once;
* ``sync``: sync status is Synced.

All ready: Succeeded; else Running, and the promotion asks again after a durable timer.
The health last seen is kept in the promotion's working directory between looks (Kargo
keeps it in the step's shared state). Output ``apps``: ``[{name, namespace}]`` of the
Applications waited for.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._typed_config import typed_config
from activities.steps.argocd_update import ENV_NAMESPACE, ArgoCD, _NotFound, connect
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed
from contracts.step_configs.argocd_wait import AppWait, ArgoCDWaitConfig

DEFAULT_WAIT_FOR = ("health", "sync", "operation")
ERROR_CONDITIONS = ("ComparisonError", "InvalidSpecError")
_HEALTH_WANTED = {"health": "Healthy", "suspended": "Suspended", "degraded": "Degraded"}


def _state_file(base: Path, alias: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in alias)
    return base / ".gantry-argocd-wait" / f"{safe}.json"


def _load_health(base: Path, alias: str) -> dict[str, str]:
    data = _safe_paths.read_existing(_state_file(base, alias))
    try:
        loaded = json.loads(data) if data else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _save_health(base: Path, alias: str, health: dict[str, str]) -> None:
    path = _state_file(base, alias)
    os.makedirs(path.parent, exist_ok=True)
    _safe_paths.write_file(None, path, json.dumps(health, sort_keys=True), field="state")


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _operation_running(app: dict[str, Any]) -> bool:
    if app.get("operation"):
        return True
    state = (app.get("status") or {}).get("operationState")
    return bool(state) and not state.get("finishedAt")


def judge(app: dict[str, Any], wait_for: tuple[str, ...], previous_health: str) -> tuple[bool, str]:
    """(ready, why not) for one app, as Kargo's readiness check decides; a terminal
    failure when the app has an error condition or its health regressed to Degraded."""
    meta, status = app.get("metadata") or {}, app.get("status") or {}
    shown = f"Argo CD Application {meta.get('name')!r} in namespace {meta.get('namespace')!r}"
    health = str((status.get("health") or {}).get("status") or "")
    errors = [c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") in ERROR_CONDITIONS]
    if errors:
        raise step_failed("; ".join(f"{shown} has {c['type']!r} condition: {c.get('message', '')}" for c in errors))
    if "operation" in wait_for and _operation_running(app):
        return False, "operation in progress"
    wanted = [_HEALTH_WANTED[w] for w in wait_for if w in _HEALTH_WANTED]
    if wanted:
        finished = _time((status.get("operationState") or {}).get("finishedAt"))
        reconciled = _time(status.get("reconciledAt"))
        if finished is not None and (reconciled is None or reconciled < finished):
            return False, "not reconciled since its last operation: health not trusted yet"
        if "health" in wait_for and health == "Degraded" and previous_health not in ("", "Degraded", "Unknown"):
            raise step_failed(f"{shown} health has regressed from {previous_health} to {health}")
        if health not in wanted:
            return False, f"health {health or 'unknown'} (waiting for {' or '.join(wanted)})"
    if "sync" in wait_for:
        sync = str((status.get("sync") or {}).get("status") or "")
        if sync != "Synced":
            return False, f"sync {sync or 'unknown'} (waiting for Synced)"
    return True, "ready"


async def _apps(api: ArgoCD, spec: AppWait, where: str, default_ns: str) -> list[dict[str, Any]]:
    namespace = spec.namespace or default_ns
    if spec.selector is not None:
        selector = spec.selector.query()
        found = await api.list(selector, namespace)
        if not found:
            raise step_failed(f"config field '{where}.selector': no Argo CD Applications match in namespace {namespace!r}")
        return found
    try:
        return [await api.get(str(spec.name), namespace)]
    except _NotFound:
        raise step_failed(f"config field '{where}.name': Argo CD Application {spec.name!r} "
                          f"not found in namespace {namespace!r}") from None


@activity.defn(name="argocd-wait")
async def argocd_wait(input: StepInput) -> StepResult:
    """One look at the configured Applications: Succeeded when all are ready, else Running."""
    config = typed_config(ArgoCDWaitConfig, input)
    base = require_workdir(input.promotion)
    default_ns = os.environ.get(ENV_NAMESPACE, "").strip() or "argocd"
    previous = await run_blocking(_load_health, base, input.alias)
    health = dict(previous)
    refs: list[dict[str, str]] = []
    waiting: list[str] = []
    try:
        async with connect() as api:
            for i, spec in enumerate(config.apps):
                wait_for = tuple(spec.wait_for or DEFAULT_WAIT_FOR)
                for app in await _apps(api, spec, f"apps[{i}]", default_ns):
                    activity.heartbeat()
                    meta = app.get("metadata") or {}
                    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or spec.namespace or default_ns)
                    key = f"{namespace}/{name}"
                    refs.append({"name": name, "namespace": namespace})
                    seen = str(((app.get("status") or {}).get("health") or {}).get("status") or "")
                    try:
                        ready, why = judge(app, wait_for, previous.get(key, ""))
                    finally:
                        if seen:
                            health[key] = seen
                    if not ready:
                        waiting.append(f"{key}: {why}")
                        if why.startswith("not reconciled"):
                            await api.get(name, namespace, refresh=True)  # ask Argo CD to reconcile it
    finally:
        if health != previous:
            await run_blocking(_save_health, base, input.alias, health)
    outputs = {"apps": refs}
    if waiting:
        return StepResult(status="Running", outputs=outputs, message="waiting for " + "; ".join(waiting))
    activity.logger.info("argocd-wait: %d application(s) ready", len(refs))
    return StepResult(outputs=outputs, message=f"{len(refs)} Argo CD Application(s) ready")
