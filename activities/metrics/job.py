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

import os

from temporalio import activity

from activities.metrics.base import ConfigError, MeasureRequest, MeasureResult, error, log_path, provider_config
from activities.metrics.job_kubernetes import run_kubernetes
from activities.metrics.job_local import run_local
from activities.metrics.job_logs import remove_logs_after_run
from activities.metrics.job_spec import K8S_API_ENV, LOCAL_JOBS_OFF, JobSpec
from activities.trust import local_jobs_allowed

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
