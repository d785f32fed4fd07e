"""What Gantry reads of a job metric's ``provider.job``, and the settings every job mode shares."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from activities.metrics.base import ConfigError
from activities.pairs import PairsError, name_value_list
from activities.trust import ALLOW_LOCAL_JOBS

DEFAULT_BACKOFF_LIMIT = 6
TAIL_LINES = 20
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
        try:
            self.env: dict[str, str] = dict(name_value_list(
                self.container.get("env") or [], "containers[0].env",
                unsupported={"valueFrom": "valueFrom is not supported by a local job"},
            ))
        except PairsError as e:
            raise ConfigError(str(e)) from None
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
