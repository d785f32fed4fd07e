"""Task queue names. Workflows and catalog activities share one queue; the steps of a
promotion run on the queue of the worker that holds its working directory."""

import hashlib

DEFAULT_TASK_QUEUE = "gantry"


def worker_queue(worker_id: str) -> str:
    """The task queue served only by workers that share one disk (one working area)."""
    return f"gantry-worker/{worker_id}"


def default_worker_id(hostname: str, work_root: str) -> str:
    """A worker id that survives restarts: same host and same work directory, same id,
    so a restarted worker picks up the steps its predecessor was running."""
    digest = hashlib.sha1(work_root.encode()).hexdigest()[:8]
    return f"{hostname}-{digest}"
