"""What tests need to run local jobs as the worker runs them.

A worker running as root runs jobs as ``nobody`` (activities/metrics/job_local.py), who cannot
reach this venv's interpreter when it lives under a private home (``/root/.pyenv``), nor
pytest's ``tmp_path`` (``/tmp/pytest-of-root`` is 0700). Job commands in tests use
:data:`JOB_PYTHON`, and files a job must write go into :func:`shared_dir`.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path


def _others_can_run(path: str) -> bool:
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents)
    except OSError:
        return False


def job_python() -> str:
    """An interpreter the job's user can run: this one, unless jobs run as another user
    who cannot reach it; then the system's python3."""
    if os.geteuid() != 0 or _others_can_run(sys.executable):
        return sys.executable
    for candidate in ("/usr/local/bin/python3", "/usr/bin/python3", "/bin/python3"):
        if os.path.exists(candidate) and _others_can_run(candidate):
            return candidate
    return sys.executable


JOB_PYTHON = job_python()


def shared_dir(prefix: str = "gantry-test-job-") -> Path:
    """A fresh directory every user may write (sticky-bit style private names are not
    needed in a test); the caller removes it."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))
    path.chmod(0o777)
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
