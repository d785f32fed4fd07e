"""``measure-job``: run an Argo Rollouts job metric; its exit code is the verdict.

Config: the metric's ``provider.job`` as in the AnalysisTemplate: ``metadata`` (labels,
annotations; Kubernetes mode only) and ``spec``, a batch/v1 JobSpec of which Gantry reads
``backoffLimit`` (default 6, as Kubernetes), ``activeDeadlineSeconds`` and
``template.spec.containers[0]``: ``image``, ``command``, ``args``, ``env[]{name, value}``,
``workingDir``.

Local mode runs code on the worker's host, so it is **off unless the operator turns it on**
for the worker: ``GANTRY_ALLOW_LOCAL_JOBS=1`` or ``gantry worker --allow-local-jobs`` (also
``gantry dev`` and ``python worker.py``). When it is off, a local job is an Error
measurement whose message says how to turn it on (Kubernetes mode needs no opt-in).

When on, the container's ``command`` + ``args`` run as a process on the worker, in its own
process group, with the allow-listed tool environment (``activities.trust.tool_env``:
``PATH``, locale, proxies, CA bundles; no ``GANTRY_*`` variable, no credential), then
``GANTRY_ANALYSIS_RUN`` and ``GANTRY_METRIC``, then the container's ``env``. Each
measurement gets a fresh, empty directory of its own (under the system temporary
directory) as ``HOME``, ``TMPDIR`` and working directory (``workingDir`` overrides the
last); it is removed when the measurement ends. An image cannot run locally, so a
container without ``command`` needs the worker to map its image to a local command line::

    GANTRY_JOB_IMAGE_<IMAGE>="pytest -q /srv/integration-tests"

where ``<IMAGE>`` is the image reference upper-cased with every character other than a
letter or digit replaced by ``_``, tried first with its tag or digest and then without
(``my-registry/integration-tests:latest`` ->
``GANTRY_JOB_IMAGE_MY_REGISTRY_INTEGRATION_TESTS_LATEST``, then
``GANTRY_JOB_IMAGE_MY_REGISTRY_INTEGRATION_TESTS``). The value is split like a shell
command line (no shell runs); the container's ``args`` are appended. Without ``command``
and without a mapping the measurement is an Error that says so.

What isolates a local job from the worker, plainly:

* **Worker running as root**: the job runs as an unprivileged user, ``nobody`` unless the
  operator names another in ``GANTRY_JOB_USER`` (a name or a uid), with that user's group
  and no supplementary groups. It cannot read the worker's environment, memory or files
  that are not world-readable, nor those of git and the other tools the worker starts
  (they run as root). It can read what any user of the host can read (world-readable
  files, including checkouts in a work directory that is not itself private) and use the
  network. ``GANTRY_JOB_USER=root`` removes this boundary; only an operator who means it
  should set it.
* **Worker running as another user**: the job runs as that same user. The worker process
  is non-dumpable (``client.worker.protect_worker_process``, set when the workers are
  built), so the job cannot read ``/proc/<worker>/environ`` or its memory, nor ptrace it.
  It *can* do everything else that user can: read the user's files (the work directory,
  any credential file the operator gave the worker), signal the worker, and read the
  environment of the worker's other child processes while they run (git, whose askpass
  variables carry a credential during a fetch or push). There is no boundary there: run
  the worker as root, in a container of its own, or use Kubernetes mode when the jobs'
  authors are not trusted with the worker's credentials.

In both cases the job's output goes to its log file and, as the last lines, into the
measurement's message (workflow history): a job that prints a secret it was given publishes it.

stdout and stderr are merged and written line by line, as the process runs, to
``$GANTRY_WORK_DIR/analysis/<run>/<metric>.log`` (``gantry verification logs --follow``
tails it); lines starting ``# gantry:`` are Gantry's own markers. The folder of a run's
logs is removed once its AnalysisRun (the VerificationWorkflow) has ended, after
``GANTRY_JOB_LOG_RETENTION`` seconds (default 300, so that ``gantry verification logs``
right after the end still shows the output): the worker that wrote it watches the run
(``describe`` every few seconds) and removes the folder; a restarted worker looks again
at the folders it finds on its first job. The measurements keep the last lines. The activity heartbeats
while the process runs; when the activity is cancelled the whole process group gets
SIGTERM, then SIGKILL after 5 s. A failed try is retried up to ``backoffLimit`` times;
``activeDeadlineSeconds`` bounds all tries together, as in Kubernetes.

Kubernetes mode: where ``GANTRY_JOB_KUBERNETES_API`` (the API server URL) is set, the
JobSpec is created as a batch/v1 Job (``POST /apis/batch/v1/namespaces/{ns}/jobs``) in
``GANTRY_JOB_KUBERNETES_NAMESPACE`` (else ``provider.job.metadata.namespace``, else
``default``), polled every ``GANTRY_JOB_KUBERNETES_POLL`` seconds (default 2) until its
``Complete`` or ``Failed`` condition, while its pod's log is copied to the same log file. The
namespace must be a DNS-1123 label and the Job's name is a DNS-1123 subdomain of at most
63 characters: anything else (``../../api/v1/secrets``, a ``?``) is refused before it
reaches a URL, as an Error measurement. The
bearer token comes from the credential store (type ``http``) by API URL;
``GANTRY_JOB_KUBERNETES_INSECURE=1`` skips TLS verification. A cancelled activity deletes the
Job (``propagationPolicy=Background``). The Job is named ``<run>.<metric>.<index>``
(DNS-safe, shortened with a hash when long); a retried activity finds its own Job (409) and
follows it instead of starting another.

Result: ``phase`` Successful (exit code 0) or Failed, ``value`` the exit code of the last
try, ``message`` the last lines of output; ``metadata``: ``exitCode``, ``tries``,
``logPath``, ``mode`` (and ``job`` in Kubernetes mode). A job that cannot be started
(command not found, API unreachable, bad spec) is an Error measurement.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.credentials import CredentialsError, redact_url
from activities.trust import ALLOW_LOCAL_JOBS, local_jobs_allowed, tool_env
from pipeline.yamlsafe import json_loads
from activities.metrics.base import (
    MAX_MESSAGE,
    ConfigError,
    MeasureRequest,
    MeasureResult,
    analysis_dir,
    error,
    log_path,
    lookup_auth,
    provider_config,
)

DEFAULT_BACKOFF_LIMIT = 6
TAIL_LINES = 20
HEARTBEAT_EVERY = 2.0
KILL_GRACE = 5.0
IMAGE_ENV_PREFIX = "GANTRY_JOB_IMAGE_"
K8S_API_ENV = "GANTRY_JOB_KUBERNETES_API"
JOB_USER_ENV = "GANTRY_JOB_USER"
DEFAULT_JOB_USER = "nobody"
LOG_RETENTION_ENV = "GANTRY_JOB_LOG_RETENTION"
DEFAULT_LOG_RETENTION = 300.0
#: How often a worker asks whether a run whose logs it holds has ended.
RUN_POLL = 5.0
#: In a run's log folder: the run's workflow id (folder names are sanitised).
RUN_MARKER = ".run"

LOCAL_JOBS_OFF = (
    f"local jobs are off on this worker: running a job's command on the worker's host must be "
    f"enabled by the operator ({ALLOW_LOCAL_JOBS}=1 or `gantry worker --allow-local-jobs`), "
    f"or jobs run as Kubernetes Jobs where {K8S_API_ENV} is set"
)


# --------------------------------------------------------------------------- config


class JobSpec:
    """What Gantry reads from ``provider.job``."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        spec = cfg.get("spec")
        if not isinstance(spec, dict):
            raise ConfigError("job.spec is required")
        self.raw = cfg
        self.spec = spec
        metadata = cfg.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ConfigError("job.metadata must be a mapping")
        self.metadata = metadata
        backoff = spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
        if isinstance(backoff, bool) or not isinstance(backoff, int) or backoff < 0:
            raise ConfigError("job.spec.backoffLimit must be a non-negative integer")
        self.backoff_limit = backoff
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0):
            raise ConfigError("job.spec.activeDeadlineSeconds must be a positive number")
        self.deadline = float(deadline) if deadline else None
        pod = (spec.get("template") or {}).get("spec") if isinstance(spec.get("template"), dict) else None
        containers = pod.get("containers") if isinstance(pod, dict) else None
        if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
            raise ConfigError("job.spec.template.spec.containers needs one container")
        self.container = containers[0]
        self.image = str(self.container.get("image") or "")
        self.command = self._strings("command")
        self.args = self._strings("args")
        self.env: dict[str, str] = {}
        for i, item in enumerate(self.container.get("env") or []):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise ConfigError(f"containers[0].env[{i}] must be a mapping {{name, value}}")
            if "valueFrom" in item:
                raise ConfigError(f"containers[0].env[{i}] ({item['name']}): valueFrom is not supported by a local job")
            value = item.get("value")
            self.env[item["name"]] = "" if value is None else str(value)
        working_dir = self.container.get("workingDir")
        self.working_dir = str(working_dir) if working_dir else None

    def _strings(self, field: str) -> list[str]:
        value = self.container.get(field)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
            raise ConfigError(f"containers[0].{field} must be a list of strings")
        return [str(v) for v in value]


def image_env_names(image: str) -> list[str]:
    """The environment variables that may map ``image`` to a local command, in order."""

    def sanitise(text: str) -> str:
        return IMAGE_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", text).upper()

    names = [sanitise(image)]
    bare = image.split("@", 1)[0]
    last = bare.rsplit("/", 1)[-1]
    if ":" in last:
        bare = bare[: len(bare) - len(last)] + last.split(":", 1)[0]
    if bare != image:
        names.append(sanitise(bare))
    return names


def local_argv(job: JobSpec) -> list[str]:
    if job.command:
        return job.command + job.args
    for name in image_env_names(job.image) if job.image else []:
        mapped = os.environ.get(name)
        if mapped:
            return shlex.split(mapped) + job.args
    hint = f" or set {image_env_names(job.image)[0]} on the worker" if job.image else ""
    raise ConfigError(
        f"a local job needs containers[0].command: the image {job.image or '(none)'!r} cannot run on the worker; "
        f"add command{hint} to map the image to a local command"
    )


# --------------------------------------------------------------------------- local mode


class LogFile:
    """The metric's log file, written line by line and flushed, plus the last lines."""

    def __init__(self, path: Path, truncate: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file: IO[bytes] = open(path, "wb" if truncate else "ab")
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.lines = 0

    def write(self, line: bytes, keep: bool = True) -> None:
        if not line.endswith(b"\n"):
            line += b"\n"
        self.file.write(line)
        self.file.flush()
        if keep:
            self.tail.append(line.decode("utf-8", "replace").rstrip("\n"))
            self.lines += 1

    def mark(self, text: str) -> None:
        self.write(f"# gantry: {text}".encode(), keep=False)

    def close(self) -> None:
        self.file.close()


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except asyncio.TimeoutError:
            continue


async def _heartbeat_forever(details: dict[str, Any]) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        if activity.in_activity():
            activity.heartbeat(dict(details))


class JobUser:
    """Who a local job runs as: ``None`` fields mean "as the worker" (worker not root)."""

    def __init__(self, name: str | None = None, uid: int | None = None, gid: int | None = None) -> None:
        self.name, self.uid, self.gid = name, uid, gid

    def popen_args(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def job_user() -> JobUser:
    """The unprivileged user a root worker runs jobs as (``GANTRY_JOB_USER``, else nobody)."""
    if os.geteuid() != 0:
        return JobUser()
    wanted = (os.environ.get(JOB_USER_ENV) or DEFAULT_JOB_USER).strip()
    try:
        entry = pwd.getpwuid(int(wanted)) if wanted.isdigit() else pwd.getpwnam(wanted)
    except (KeyError, ValueError):
        if wanted.isdigit():  # a uid without a passwd entry: its own group of the same number
            return JobUser(wanted, int(wanted), int(wanted))
        raise ConfigError(
            f"the worker runs as root and runs jobs as user {wanted!r}, which does not exist: "
            f"set {JOB_USER_ENV} to an unprivileged user of this host"
        ) from None
    return JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _job_dir(user: JobUser) -> Path:
    """A fresh, empty directory for one measurement, owned by the job's user."""
    path = Path(tempfile.mkdtemp(prefix="gantry-job-"))
    if user.uid is not None:
        os.chown(path, user.uid, user.gid if user.gid is not None else -1)
    return path


def job_env(req: MeasureRequest, job: JobSpec, home: Path, user: JobUser) -> dict[str, str]:
    """The allow-listed tool environment, the job's own HOME/TMPDIR, the run and metric,
    then the container's ``env``."""
    env = tool_env()
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        GANTRY_ANALYSIS_RUN=req.run,
        GANTRY_METRIC=req.metric,
    )
    if user.name is not None:
        env["USER"] = env["LOGNAME"] = user.name
    env.update(job.env)
    return env


async def _run_once(
    argv: list[str], env: dict[str, str], cwd: Path, log: LogFile, timeout: float | None, user: JobUser | None = None
) -> int | str:
    """One try: the exit code, or a string saying why the process never ran / was stopped."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
            **(user or JobUser()).popen_args(),
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
        who = f" as user {user.name}" if user is not None and user.name else ""
        raise ConfigError(f"cannot start {argv[0]!r}{who} in {str(cwd)!r}: {e.strerror or e}") from None
    assert proc.stdout is not None

    async def pump() -> None:
        while True:
            line = await proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            log.write(line)

    try:
        try:
            await asyncio.wait_for(pump(), timeout)
        except asyncio.TimeoutError:
            await _kill_group(proc)
            return f"deadline exceeded: killed after {timeout:g}s"
        return await proc.wait()
    except BaseException:
        # cancellation (or any error): never leave the process group behind
        await asyncio.shield(_kill_group(proc))
        raise


async def run_local(req: MeasureRequest, job: JobSpec) -> MeasureResult:
    argv = local_argv(job)
    user = job_user()
    home = _job_dir(user)
    try:
        return await _run_local(req, job, argv, user, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _run_local(req: MeasureRequest, job: JobSpec, argv: list[str], user: JobUser, home: Path) -> MeasureResult:
    env = job_env(req, job, home, user)
    cwd = Path(job.working_dir) if job.working_dir else home
    path = log_path(req.run, req.metric)
    log = LogFile(path, truncate=req.attempt <= 1 and req.index == 0)
    details: dict[str, Any] = {"try": 0, "logPath": str(path)}
    beat = asyncio.ensure_future(_heartbeat_forever(details))
    started = time.monotonic()
    tries = 0
    outcome: int | str = "not run"
    try:
        while True:
            tries += 1
            details["try"] = tries
            remaining = None if job.deadline is None else job.deadline - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                outcome = f"deadline exceeded: activeDeadlineSeconds {job.deadline:g}"
                break
            log.mark(f"measurement #{req.index} try {tries}/{job.backoff_limit + 1}: {shlex.join(argv)}")
            try:
                outcome = await _run_once(argv, env, cwd, log, remaining, user)
            except asyncio.CancelledError:
                log.mark("cancelled: process group killed")
                raise
            log.mark(f"exit: {outcome}")
            if outcome == 0 or tries > job.backoff_limit or isinstance(outcome, str):
                break
    finally:
        beat.cancel()
        log.close()
    tail = "\n".join(log.tail)
    metadata = {"mode": "local", "tries": str(tries), "logPath": str(path)}
    if isinstance(outcome, str):
        return MeasureResult(value=None, phase="Failed", message=(outcome + "\n" + tail)[-MAX_MESSAGE:], metadata=metadata)
    metadata["exitCode"] = str(outcome)
    head = "" if outcome == 0 else (
        f"killed by signal {-outcome}\n" if outcome < 0 else f"exit code {outcome} after {tries} tries\n"
    )
    return MeasureResult(
        value=outcome,
        phase="Successful" if outcome == 0 else "Failed",
        message=(head + tail)[-MAX_MESSAGE:],
        metadata=metadata,
    )


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


# --------------------------------------------------------------------------- logs end with their run

_watchers: dict[Path, asyncio.Task[None]] = {}
_looked_for_leftovers: set[Path] = set()


def _retention() -> float:
    try:
        return max(0.0, float(os.environ.get(LOG_RETENTION_ENV) or DEFAULT_LOG_RETENTION))
    except ValueError:
        return DEFAULT_LOG_RETENTION


async def _run_has_ended(client: Client, run: str) -> bool:
    try:
        described = await client.get_workflow_handle(run).describe()
    except RPCError as e:
        return e.status == RPCStatusCode.NOT_FOUND
    return described.status not in (None, WorkflowExecutionStatus.RUNNING)


async def _remove_when_ended(client: Client, run: str, folder: Path) -> None:
    """Wait for the run's workflow to end, then for the retention, then remove its logs."""
    try:
        while True:
            try:
                if await _run_has_ended(client, run):
                    break
            except Exception:  # the server is away: ask again later
                pass
            await asyncio.sleep(RUN_POLL)
        await asyncio.sleep(_retention())
        await asyncio.to_thread(shutil.rmtree, folder, True)
    finally:
        if _watchers.get(folder) is asyncio.current_task():
            del _watchers[folder]


def _watch(client: Client, run: str, folder: Path) -> None:
    task = _watchers.get(folder)
    if task is None or task.done():
        _watchers[folder] = asyncio.get_running_loop().create_task(_remove_when_ended(client, run, folder))


def remove_logs_after_run(run: str) -> None:
    """Mark the run's log folder with its run id and have this worker remove the folder
    when the run has ended (:data:`LOG_RETENTION_ENV`). The first time in a process it also
    watches the folders an earlier worker process left behind. Only inside a worker's
    activity (it needs the worker's client)."""
    if not activity.in_activity():
        return
    try:
        client = activity.client()
    except RuntimeError:  # a test's ActivityEnvironment without a client
        return
    folder = analysis_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_MARKER).write_text(run)
    root = folder.parent
    if root not in _looked_for_leftovers:
        _looked_for_leftovers.add(root)
        for other in root.iterdir():
            marker = other / RUN_MARKER
            if other != folder and marker.is_file():
                _watch(client, marker.read_text().strip(), other)
    _watch(client, run, folder)


# --------------------------------------------------------------------------- activity


@activity.defn(name="measure-job")
async def measure_job(req: MeasureRequest) -> MeasureResult:
    """Run the job metric (locally, or as a Kubernetes Job) and return its verdict."""
    try:
        job = JobSpec(provider_config(req, "job"))
        api = os.environ.get(K8S_API_ENV)
        if not api and not local_jobs_allowed():
            raise ConfigError(LOCAL_JOBS_OFF)
        remove_logs_after_run(req.run)
        if api:
            result = await run_kubernetes(req, job, api)
        else:
            result = await run_local(req, job)
    except ConfigError as e:
        result = error(f"job {req.metric}: {e}", logPath=str(log_path(req.run, req.metric)))
    if activity.in_activity():
        activity.logger.info("job %s/%s #%d: %s", req.run, req.metric, req.index, result.phase)
    return result
