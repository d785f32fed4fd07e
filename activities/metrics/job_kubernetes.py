"""A job metric run as a Kubernetes batch/v1 Job (``GANTRY_JOB_KUBERNETES_API``): created,
followed until Complete or Failed with its pod's log copied, deleted when cancelled.
Namespaces and names are checked as DNS-1123 names before they reach a URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from typing import Any

import httpx
from temporalio import activity

from activities.credentials import CredentialsError, redact_url
from activities.metrics.base import (
    MAX_MESSAGE,
    ConfigError,
    MeasureRequest,
    MeasureResult,
    error,
    log_path,
    lookup_auth,
)
from activities.metrics.job_local import LogFile
from activities.metrics.job_spec import JobSpec
from pipeline.yamlsafe import json_loads

# --------------------------------------------------------------------------- Kubernetes mode


def k8s_job_name(run: str, metric: str, index: int) -> str:
    """A DNS-1123 name, at most 63 characters (it is also the pods' job-name label)."""

    def part(text: str) -> str:
        return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"

    name = f"{part(run)}.{part(metric)}.{index}"
    if len(name) > 63:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = name[:52].rstrip(".-") + "-" + digest
    return name


DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_namespace(namespace: str) -> str:
    """A namespace as Kubernetes accepts it (DNS-1123 label), before it goes into a URL."""
    if len(namespace) > 63 or not DNS1123_LABEL.fullmatch(namespace):
        raise ConfigError(
            f"Kubernetes namespace {namespace!r} is not a valid namespace name "
            "(a DNS-1123 label: at most 63 of a-z, 0-9 and '-', starting and ending alphanumeric)"
        )
    return namespace


def check_object_name(name: str, what: str = "Job name") -> str:
    """A Job or pod name as Kubernetes accepts it (DNS-1123 subdomain; at most 63 characters
    for a Job, whose name is also its pods' label), before it goes into a URL."""
    if len(name) > 63 or not DNS1123_SUBDOMAIN.fullmatch(name):
        raise ConfigError(f"Kubernetes {what} {name!r} is not a valid name (a DNS-1123 subdomain of at most 63 characters)")
    return name


def _label_value(text: str) -> str:
    """A valid label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63].strip("._-") or "x"


class KubeError(Exception):
    pass


class Kube:
    def __init__(self, api: str, namespace: str) -> None:
        self.api = api.rstrip("/")
        self.namespace = namespace
        self.headers = lookup_auth(api, "http")
        self.verify = os.environ.get("GANTRY_JOB_KUBERNETES_INSECURE", "") in ("", "0", "false")
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), verify=self.verify, headers=self.headers)

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self.client.request(method, self.api + path, **kw)
        except httpx.HTTPError as e:
            raise KubeError(f"Kubernetes API {redact_url(self.api)}: {type(e).__name__}: {redact_url(str(e))}") from None

    def jobs(self) -> str:
        return f"/apis/batch/v1/namespaces/{self.namespace}/jobs"

    @staticmethod
    def fail(what: str, r: httpx.Response) -> KubeError:
        try:
            message = json_loads(r.content).get("message") or r.text
        except ValueError:
            message = r.text
        return KubeError(f"{what}: {r.status_code}: {str(message)[:300]}")


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and str(c.get("status")) == "True":
            return c
    return None


def _exit_code(pod: dict[str, Any]) -> int | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term and isinstance(term.get("exitCode"), int):
            return term["exitCode"]
    return None


async def run_kubernetes(req: MeasureRequest, job: JobSpec, api: str) -> MeasureResult:
    namespace = (
        os.environ.get("GANTRY_JOB_KUBERNETES_NAMESPACE") or str(job.metadata.get("namespace") or "") or "default"
    )
    check_namespace(namespace)
    poll = float(os.environ.get("GANTRY_JOB_KUBERNETES_POLL") or 2.0)
    name = check_object_name(k8s_job_name(req.run, req.metric, req.index))
    labels = {str(k): str(v) for k, v in (job.metadata.get("labels") or {}).items()}
    labels["gantry.io/analysis-run"] = _label_value(req.run)
    labels["gantry.io/metric"] = _label_value(req.metric)
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {str(k): str(v) for k, v in (job.metadata.get("annotations") or {}).items()},
        },
        "spec": job.spec,
    }
    path = log_path(req.run, req.metric)
    metadata = {"mode": "kubernetes", "job": f"{namespace}/{name}", "logPath": str(path)}
    try:
        kube = Kube(api, namespace)
    except CredentialsError as e:
        return error(f"credential configuration: {e}", **metadata)
    log = LogFile(path, truncate=req.attempt <= 1 and req.index == 0)
    written: dict[str, int] = {}
    finished = False

    async def copy_logs() -> dict[str, Any] | None:
        """Append what is new in the Job's pods' logs; the newest pod."""
        r = await kube.call("GET", f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": f"job-name={name}"})
        if r.status_code != 200:
            return None
        pods = sorted(json_loads(r.content).get("items") or [], key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
        for pod in pods:
            pod_name = (pod.get("metadata") or {}).get("name")
            if not isinstance(pod_name, str) or (pod.get("status") or {}).get("phase") == "Pending":
                continue
            if len(pod_name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(pod_name):
                continue  # not a name the API server gives: never put it into a URL
            lr = await kube.call("GET", f"/api/v1/namespaces/{namespace}/pods/{pod_name}/log")
            if lr.status_code != 200:
                continue
            text = lr.content
            seen = written.get(pod_name, 0)
            if seen == 0:
                log.mark(f"pod {pod_name}")
            for line in text[seen:].splitlines(keepends=True):
                log.write(line)
            written[pod_name] = len(text)
        return pods[-1] if pods else None

    try:
        async with kube.client:
            r = await kube.call("POST", kube.jobs(), json=body)
            if r.status_code == 409:
                log.mark(f"job {namespace}/{name} already exists: following it")
            elif r.status_code not in (200, 201, 202):
                raise kube.fail(f"creating job {namespace}/{name}", r)
            else:
                log.mark(f"created job {namespace}/{name}")
            failures = 0
            while True:
                if activity.in_activity():
                    activity.heartbeat({"job": f"{namespace}/{name}", "lines": log.lines})
                try:
                    r = await kube.call("GET", f"{kube.jobs()}/{name}")
                    if r.status_code != 200:
                        raise kube.fail(f"reading job {namespace}/{name}", r)
                    current = json_loads(r.content)
                    pod = await copy_logs()
                    failures = 0
                except KubeError:
                    failures += 1
                    if failures >= 5:
                        raise
                    await asyncio.sleep(poll)
                    continue
                status = current.get("status") or {}
                complete = _condition(current, "Complete") or (status.get("succeeded") or 0) >= 1
                failed = _condition(current, "Failed")
                if complete or failed:
                    finished = True
                    code = _exit_code(pod) if pod else None
                    if code is None:
                        code = 0 if complete else 1
                    reason = (failed or {}).get("message") or (failed or {}).get("reason") or ""
                    log.mark(f"job {'complete' if complete else 'failed'}: exit {code}")
                    metadata.update({"exitCode": str(code), "tries": str((status.get("failed") or 0) + (status.get("succeeded") or 0))})
                    head = "" if complete else f"job failed{': ' + reason if reason else ''} (exit code {code})\n"
                    return MeasureResult(
                        value=code,
                        phase="Successful" if complete else "Failed",
                        message=(head + "\n".join(log.tail))[-MAX_MESSAGE:],
                        metadata=metadata,
                    )
                await asyncio.sleep(poll)
    except KubeError as e:
        return error(str(e), **metadata)
    except asyncio.CancelledError:
        if not finished:
            log.mark("cancelled: deleting the job")
            try:
                async with httpx.AsyncClient(timeout=10, verify=kube.verify, headers=kube.headers) as c:
                    await asyncio.shield(
                        c.delete(f"{kube.api}{kube.jobs()}/{name}", params={"propagationPolicy": "Background"})
                    )
            except (httpx.HTTPError, asyncio.CancelledError):
                pass
        raise
    finally:
        log.close()
