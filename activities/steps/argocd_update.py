"""`argocd-update`: point Argo CD Applications at new revisions/images and sync them,
through Argo CD's REST API.

Worker configuration (never step config):

* ``GANTRY_ARGOCD_URL``: the Argo CD server, e.g. ``https://argocd.example.com``.
* a credential of type ``argocd`` whose URL matches the server: a token (sent as
  ``Authorization: Bearer``), or username and password (exchanged for a session token
  at ``POST /api/v1/session``).
* ``GANTRY_ARGOCD_NAMESPACE``: the default Application namespace (``argocd``).
* ``GANTRY_ARGOCD_INSECURE=true`` skips TLS verification (not recommended); the argocd
  credential must then allow it too (``insecureSkipTLSVerify: true``), or the step fails.
  Requests to Argo CD go direct unless the credential sets ``proxy: true``.

Like Kargo, an Application is only touched when its annotation
``kargo.akuity.io/authorized-stage`` lists ``<project>:<stage>`` of this promotion.

One activity call does one round, as Kargo's reconciler does: for each app, look at its
last operation; if it is not this promotion's finished sync at the desired revisions,
update ``spec.source(s)`` (plus a hard-refresh annotation) with ``PUT`` and start a sync
(``POST .../sync``, tagged with the info ``kargo.akuity.io/promotion=<promotion>``). The
step returns ``Running`` while any operation runs (the workflow calls it again after a
durable timer), ``Succeeded`` once every sync succeeded, and fails terminally when a
sync failed.

Outputs: ``apps`` (``[{name, namespace}]``, Kargo's) and ``healthCheck``
(``{kind: argocd-update, apps: [{name, namespace, desiredRevision, desiredRevisions}]}``),
which the stage uses afterwards for the implicit Argo CD health check.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import credentials, http_client
from activities.credentials import CredentialsError, normalize_url, redact_url
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, step_failed
from contracts.step_configs.argocd_update import ArgoCDUpdateConfig
from pipeline.selectors import LabelSelector
from pipeline.yamlsafe import json_loads

AUTHORIZED_STAGE = "kargo.akuity.io/authorized-stage"
PROMOTION_INFO = "kargo.akuity.io/promotion"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
ENV_URL, ENV_NAMESPACE, ENV_INSECURE = "GANTRY_ARGOCD_URL", "GANTRY_ARGOCD_NAMESPACE", "GANTRY_ARGOCD_INSECURE"
TIMEOUT = 30.0
_COMPLETED = ("Succeeded", "Failed", "Error")
_FAILED = ("Failed", "Error")


# --------------------------------------------------------------------------- config


def label_selector(selector: Any, where: str) -> str:
    """A Kubernetes label selector (``matchLabels``/``matchExpressions``) as query text,
    checked by the shared selector code (pipeline.selectors)."""
    try:
        parsed = LabelSelector.model_validate(selector)
    except ValidationError as e:
        err = e.errors()[0]
        at = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        raise step_failed(f"config field {at!r}: {err['msg']}") from None
    if parsed.is_empty():
        raise step_failed(f"config field {where!r} must have at least one match criterion")
    return parsed.query()


# --------------------------------------------------------------------------- sources


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app.get("spec") or {}
    if spec.get("sources"):
        return spec["sources"]
    return [spec["source"]] if spec.get("source") else []


def _matches(update: dict[str, Any], src: dict[str, Any]) -> bool:
    """Chart sources match on repoURL and chart exactly; git sources on the normalised URL."""
    if src.get("chart") or update.get("chart"):
        return src.get("repoURL") == update["repoURL"] and src.get("chart") == update.get("chart")
    return normalize_url(str(src.get("repoURL", ""))).lower() == normalize_url(update["repoURL"]).lower()


def desired_revisions(update: dict[str, Any], app: dict[str, Any]) -> list[str]:
    """One entry per source of the app: the desiredRevision of the update for it, or ""."""
    out = []
    for src in _sources(app):
        match = next((u for u in update.get("sources") or [] if _matches(u, src)), None)
        out.append(str(match.get("desiredRevision") or "") if match else "")
    return out


def _kustomize_image(img: dict[str, Any]) -> str:
    text = img["repoURL"]
    if img.get("newName"):
        text += f"={img['newName']}"
    return text + (f"@{img['digest']}" if img.get("digest") else f":{img.get('tag') or ''}")


def _apply(update: dict[str, Any], revision: str, src: dict[str, Any]) -> dict[str, Any]:
    src = copy.deepcopy(src)
    if update.get("updateTargetRevision") and revision:
        src["targetRevision"] = revision
    images = (update.get("kustomize") or {}).get("images")
    if images:
        src.setdefault("kustomize", {})["images"] = [_kustomize_image(i) for i in images]
    helm_images = (update.get("helm") or {}).get("images")
    if helm_images:
        params = src.setdefault("helm", {}).setdefault("parameters", [])
        for img in helm_images:
            found = next((p for p in params if p.get("name") == img["key"]), None)
            if found is not None:
                found.clear()
                found.update(name=img["key"], value=img["value"])
            else:
                params.append({"name": img["key"], "value": img["value"]})
    return src


def desired_sources(update: dict[str, Any], app: dict[str, Any], where: str) -> list[dict[str, Any]]:
    sources = [copy.deepcopy(s) for s in _sources(app)]
    revisions = desired_revisions(update, app)
    for i, u in enumerate(update.get("sources") or []):
        for j, src in enumerate(sources):
            if _matches(u, src):
                sources[j] = _apply(u, revisions[j], src)
                break
        else:
            what = f"repoURL {u['repoURL']}" + (f" and chart {u['chart']!r}" if u.get("chart") else "")
            raise step_failed(f"config field '{where}.sources[{i}]': no source of Argo CD Application "
                              f"{_app_id(app)} matches {what}")
    return sources


def _app_id(app: dict[str, Any]) -> str:
    meta = app.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


# --------------------------------------------------------------------------- API client


class ArgoCD:
    def __init__(self, client: httpx.AsyncClient, base: str, headers: dict[str, str]) -> None:
        self.client, self.base, self.headers = client, base.rstrip("/"), headers

    async def call(self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None) -> Any:
        try:
            resp = await http_client.heartbeating(
                self.client.request(method, self.base + path, params=params, json=json, headers=self.headers)
            )
        except httpx.HTTPError as e:
            raise http_client.transport_error(f"Argo CD {method} {path}", e) from None
        if resp.status_code < 300:
            return json_loads(resp.content)
        try:
            message = json_loads(resp.content).get("message") or resp.text
        except ValueError:
            message = resp.text
        if resp.status_code == 401:
            raise step_failed(f"Argo CD at {redact_url(self.base)} refused the credentials (HTTP 401): "
                              "check the argocd credential for this URL")
        if resp.status_code in (403, 404):
            raise _NotFound(message)
        raise ApplicationError(f"Argo CD {method} {path}: HTTP {resp.status_code}: {message}", type="ArgoCDError")

    async def get(self, name: str, namespace: str, refresh: bool = False) -> dict[str, Any]:
        params = {"appNamespace": namespace}
        if refresh:
            params["refresh"] = "normal"
        return await self.call("GET", f"/api/v1/applications/{quote(name, safe='')}", params=params)

    async def list(self, selector: str, namespace: str) -> list[dict[str, Any]]:
        body = await self.call("GET", "/api/v1/applications", params={"selector": selector, "appNamespace": namespace})
        return body.get("items") or []


class _NotFound(Exception):
    pass


def _verify() -> bool:
    return os.environ.get(ENV_INSECURE, "").strip().lower() not in ("1", "true", "yes")


def _server(verify: bool) -> tuple[str, credentials.Credentials]:
    """The configured Argo CD URL and its credential (checked against ``verify``)."""
    base = os.environ.get(ENV_URL, "").strip()
    if not base:
        raise step_failed(f"Argo CD is not configured on this worker: set {ENV_URL} (and an argocd credential)")
    try:
        creds = credentials.lookup(base, "argocd")
        credentials.check_tls(creds, base, verify=verify)
    except CredentialsError as e:
        raise step_failed(f"credential configuration: {e}") from None
    if creds is None or not creds.password:
        raise step_failed(f"no argocd credential matches {redact_url(base)}: add a token for it to the credential store")
    return base, creds


@contextlib.asynccontextmanager
async def connect(timeout: float = TIMEOUT) -> AsyncIterator[ArgoCD]:
    """A logged-in API session with the worker's Argo CD, over a client that follows the
    credential's rules (no proxy unless allowed; TLS-off only when allowed)."""
    verify = _verify()
    base, creds = _server(verify)
    async with http_client.client(timeout=timeout, verify=verify, creds=creds, follow_redirects=False) as client:
        yield await _connect(client, base, creds)


async def _connect(client: httpx.AsyncClient, base: str, creds: credentials.Credentials) -> ArgoCD:
    if not creds.username:
        return ArgoCD(client, base, {"Authorization": f"Bearer {creds.password}"})
    # username and password: log in for a session token (never shown or returned)
    api = ArgoCD(client, base, {})
    try:
        session = await api.call("POST", "/api/v1/session", json={"username": creds.username, "password": creds.password})
    except _NotFound as e:
        raise step_failed(f"Argo CD login failed: {e}") from None
    return ArgoCD(client, base, {"Authorization": f"Bearer {session['token']}"})


# --------------------------------------------------------------------------- step


def _authorized(app: dict[str, Any], project: str, stage: str) -> str:
    """"" when the app allows this stage, else the reason it does not."""
    value = ((app.get("metadata") or {}).get("annotations") or {}).get(AUTHORIZED_STAGE)
    who = f"{project}:{stage}"
    if value is None:
        return f"Argo CD Application {_app_id(app)} does not permit mutation by Stage {who} (annotation {AUTHORIZED_STAGE} is missing)"
    entries = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        p, sep, s = entry.partition(":")
        if not sep or not p.strip() or not s.strip() or "*" in entry:
            return f"annotation {AUTHORIZED_STAGE}={value!r} of Argo CD Application {_app_id(app)} is not a list of <project>:<stage>"
        entries.append((p.strip(), s.strip()))
    if (project, stage) in entries:
        return ""
    return f"Argo CD Application {_app_id(app)} does not permit mutation by Stage {who} (it allows {value!r})"


def _decide(app: dict[str, Any], update: dict[str, Any], promotion: str) -> tuple[str, bool, str]:
    """(operation phase to report, whether to start our own update, why), as Kargo decides."""
    state = (app.get("status") or {}).get("operationState")
    if not state:
        return "", True, "no operation yet"
    phase = state.get("phase", "")
    operation = state.get("operation") or {}
    infos = {i.get("name"): i.get("value") for i in operation.get("info") or [] if isinstance(i, dict)}
    if PROMOTION_INFO not in infos or infos[PROMOTION_INFO] != promotion:
        by = (operation.get("initiatedBy") or {}).get("username") or "someone else"
        if phase not in _COMPLETED:
            return phase or "Running", False, f"waiting for an operation started by {by} to finish"
        return "", True, "the last operation was not this promotion's"
    if phase not in _COMPLETED:
        return phase or "Running", False, "sync running"
    result = state.get("syncResult")
    if not result:
        return "", True, "the last operation finished without a sync result"
    wanted = desired_revisions(update, app)
    if not any(wanted):
        return phase, False, "done"
    observed = result.get("revisions") or [result.get("revision", "")]
    for i, rev in enumerate(observed):
        if i < len(wanted) and wanted[i] and rev != wanted[i]:
            return "", True, f"synced revisions {observed} do not match desired {wanted}"
    return phase, False, "done"


async def _update(api: ArgoCD, app: dict[str, Any], update: dict[str, Any], where: str, input: StepInput) -> None:
    meta = app["metadata"]
    body = copy.deepcopy(app)
    body.pop("status", None)
    body.pop("operation", None)
    body["metadata"].setdefault("annotations", {})[REFRESH_ANNOTATION] = "hard"
    sources = desired_sources(update, app, where)
    if body["spec"].get("sources"):
        body["spec"]["sources"] = sources
    elif sources:
        body["spec"]["source"] = sources[0]
    name = quote(meta["name"], safe="")
    await api.call("PUT", f"/api/v1/applications/{name}", params={"validate": "false"}, json=body)
    policy = body["spec"].get("syncPolicy") or {}
    sync: dict[str, Any] = {
        "name": meta["name"],
        "appNamespace": meta.get("namespace", ""),
        "prune": False,
        "infos": [
            {"name": "Reason", "value": "Promotion triggered a sync of this Application resource."},
            {"name": PROMOTION_INFO, "value": input.promotion},
        ],
    }
    if policy.get("syncOptions"):
        sync["syncOptions"] = {"items": list(policy["syncOptions"])}
    if policy.get("retry"):
        sync["retryStrategy"] = policy["retry"]
    await api.call("POST", f"/api/v1/applications/{name}/sync", json=sync)


@activity.defn(name="argocd-update")
async def argocd_update(input: StepInput) -> StepResult:
    """One round of updating and syncing the configured Applications."""
    # the typed config, handed on as Kargo's JSON shape, which the code below reads
    config = typed_config(ArgoCDUpdateConfig, input)
    updates = [app.model_dump(by_alias=True, exclude_none=True) for app in config.apps]
    default_ns = os.environ.get(ENV_NAMESPACE, "").strip() or "argocd"
    phases: list[str] = []
    refs: list[dict[str, str]] = []
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    async with connect() as api:
        for i, update in enumerate(updates):
            where = f"apps[{i}]"
            namespace = update.get("namespace") or default_ns
            activity.heartbeat()
            if update.get("selector"):
                found = await api.list(label_selector(update["selector"], f"{where}.selector"), namespace)
                if not found:
                    raise step_failed(f"config field '{where}.selector': no Argo CD Applications match in namespace {namespace!r}")
                apps = [a for a in found if not _authorized(a, input.project, input.stage)]
                if not apps:
                    raise step_failed(f"config field '{where}.selector': {len(found)} Application(s) match in namespace "
                                      f"{namespace!r}, but none is authorized for Stage {input.project}:{input.stage}")
            else:
                try:
                    app = await api.get(update["name"], namespace)
                except _NotFound:
                    raise step_failed(f"config field '{where}.name': Argo CD Application {update['name']!r} "
                                      f"not found in namespace {namespace!r}") from None
                reason = _authorized(app, input.project, input.stage)
                if reason:
                    raise step_failed(f"config field '{where}.name': {reason}")
                apps = [app]
            if update.get("sources") and len(apps) > 1:
                for app in apps:  # all or nothing: check every app before touching any
                    desired_sources(update, app, where)
            for app in apps:
                meta = app["metadata"]
                wanted = desired_revisions(update, app)
                refs.append({"name": meta["name"], "namespace": meta.get("namespace", namespace)})
                checks.append({
                    "name": meta["name"],
                    "namespace": meta.get("namespace", namespace),
                    "desiredRevision": next((r for r in wanted if r), ""),
                    "desiredRevisions": wanted,
                })
                phase, must_update, why = _decide(app, update, input.promotion)
                if must_update:
                    await _update(api, app, update, where, input)
                    phase, why = "Running", "sync started"
                if phase in _FAILED:
                    state = app["status"].get("operationState") or {}
                    raise step_failed(f"Argo CD Application {_app_id(app)} sync {phase.lower()}: "
                                      f"{state.get('message') or 'no message'}")
                if phase:
                    phases.append(phase)
                notes.append(f"{_app_id(app)}: {why}")
    outputs = {"apps": refs, "healthCheck": {"kind": "argocd-update", "apps": checks}}
    message = "; ".join(notes)
    if any(p in ("Running", "Terminating") for p in phases) or not phases:
        # no phase at all cannot happen after an update; treat it as still running
        return StepResult(status="Running", outputs=outputs, message=message)
    return StepResult(outputs=outputs, message=message)
