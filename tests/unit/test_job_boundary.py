"""The job provider's boundary (issue 10, part 6): local jobs are opt-in, run as an
unprivileged user under a root worker, with the allow-listed environment, and cannot read
the worker's environment; Kubernetes names are checked before they reach a URL. Also the
worker's one-line log for failures raised on purpose (part 8)."""

from __future__ import annotations

import inspect
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.metrics.base import MeasureRequest, MeasureResult  # noqa: E402
from activities.metrics.job import measure_job  # noqa: E402
from activities.metrics.job_kubernetes import check_namespace, check_object_name, k8s_job_name  # noqa: E402
from activities.metrics.base import ConfigError  # noqa: E402
from activities.steps.base import step_failed  # noqa: E402
from client.worker import OneLineApplicationErrors, install_log_filter, protect_worker_process  # noqa: E402
from tests.fakes.kubernetes import FakeKubernetes  # noqa: E402
from tests.jobs import JOB_PYTHON  # noqa: E402


@pytest.fixture(autouse=True)
def work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GANTRY_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("GANTRY_JOB_KUBERNETES_API", raising=False)
    yield tmp_path / "work"


def job(command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "runner", "image": "local/runner", "command": command}
    return {"job": {"spec": {"template": {"spec": {"containers": [container]}}, "backoffLimit": 0, **spec}}}


async def measure(provider: dict[str, Any], metric: str = "check") -> MeasureResult:
    return await ActivityEnvironment().run(measure_job, MeasureRequest(run="run-b", metric=metric, provider=provider))


# --------------------------------------------------------------------------- opt-in


async def test_local_jobs_are_refused_unless_the_worker_allows_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GANTRY_ALLOW_LOCAL_JOBS", raising=False)
    ran = tmp_path / "ran"
    r = await measure(job(["sh", "-c", f"touch {ran}"]))
    assert r.phase == "Error"
    assert "GANTRY_ALLOW_LOCAL_JOBS=1" in r.message and "--allow-local-jobs" in r.message
    assert not ran.exists()
    monkeypatch.setenv("GANTRY_ALLOW_LOCAL_JOBS", "0")
    assert (await measure(job(["true"]))).phase == "Error"
    monkeypatch.setenv("GANTRY_ALLOW_LOCAL_JOBS", "1")
    assert (await measure(job(["true"]))).phase == "Successful"


async def test_kubernetes_mode_needs_no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_ALLOW_LOCAL_JOBS", raising=False)
    with FakeKubernetes() as kube:
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_API", kube.url)
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_POLL", "0.05")
        r = await measure(job(["true"]))
    assert r.phase == "Successful", r.message


# --------------------------------------------------------------------------- Kubernetes names


@pytest.mark.parametrize(
    "namespace", ["../../api/v1/secrets", "default?x=1", "a/b", "Default", "-x", "x" * 64, "ns#frag", "%2e%2e"]
)
async def test_kubernetes_namespace_must_be_a_namespace_name(monkeypatch: pytest.MonkeyPatch, namespace: str) -> None:
    with FakeKubernetes() as kube:
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_API", kube.url)
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_NAMESPACE", namespace)
        r = await measure(job(["true"]))
        assert r.phase == "Error"
        assert "not a valid namespace name" in r.message and repr(namespace) in r.message
        assert kube.requests == []  # never reached a URL


async def test_kubernetes_namespace_from_the_template_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeKubernetes() as kube:
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_API", kube.url)
        monkeypatch.delenv("GANTRY_JOB_KUBERNETES_NAMESPACE", raising=False)
        provider = job(["true"])
        provider["job"]["metadata"] = {"namespace": "../../api/v1/secrets"}
        r = await measure(provider)
        assert r.phase == "Error" and "not a valid namespace name" in r.message
        assert kube.requests == []


def test_kubernetes_names() -> None:
    for ok in ("default", "team-a", "a" * 63):
        assert check_namespace(ok) == ok
    for run, metric in [("analysis/20240101T000000-abcdef", "error-rate"), ("R" * 200, "m" * 200), ("../..", "?&")]:
        name = k8s_job_name(run, metric, 7)
        assert check_object_name(name) == name
    for bad in ("a/b", "a?b", "..", "a" * 64, "A", "a..b", ""):
        with pytest.raises(ConfigError):
            check_object_name(bad)


# --------------------------------------------------------------------------- the job's process


async def test_local_job_environment_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_9_PASSWORD", "s3cret-in-worker-env")
    monkeypatch.setenv("GANTRY_SOMETHING", "x")
    code = (
        "import os, json, sys\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(), 'cwd': os.getcwd(),"
        " 'env': dict(os.environ), 'pgid': os.getpgid(0), 'pid': os.getpid()}))\n"
    )
    r = await measure(job([JOB_PYTHON, "-c", code]))
    assert r.phase == "Successful", r.message
    import json

    seen = json.loads(r.message.splitlines()[-1])
    env = seen["env"]
    assert not any(k.startswith("GANTRY_") for k in env if k not in ("GANTRY_ANALYSIS_RUN", "GANTRY_METRIC"))
    assert env["GANTRY_ANALYSIS_RUN"] == "run-b" and env["GANTRY_METRIC"] == "check"
    assert env["HOME"] == seen["cwd"] == env["TMPDIR"]
    assert "gantry-job-" in env["HOME"]
    assert not Path(env["HOME"]).exists()  # removed with the measurement
    assert seen["pgid"] == seen["pid"]  # a process group of its own
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        assert (seen["uid"], seen["gid"]) == (nobody.pw_uid, nobody.pw_gid)
        assert set(seen["groups"]) <= {nobody.pw_gid}
        assert env["USER"] == "nobody"
    else:
        assert seen["uid"] == os.getuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="jobs change user only under a root worker")
async def test_root_worker_names_the_job_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_JOB_USER", "no-such-user-here")
    r = await measure(job(["true"]))
    assert r.phase == "Error" and "GANTRY_JOB_USER" in r.message
    monkeypatch.setenv("GANTRY_JOB_USER", "4242")
    r = await measure(job(["sh", "-c", "id -u"]))
    assert r.phase == "Successful" and r.message.strip() == "4242"


# --------------------------------------------------------------------------- non-dumpable worker


def _read_parent_environ(protect: bool) -> str:
    """A bare interpreter, with a secret in the environment it was started with, that
    optionally runs :func:`protect_worker_process` and then starts a child that tries to
    read ``/proc/<parent>/environ``. As ``nobody`` when we are root (root reads anything)."""
    source = textwrap.dedent(inspect.getsource(protect_worker_process))
    code = source + textwrap.dedent(
        f"""
        import subprocess, sys
        if {protect!r}:
            assert protect_worker_process(), "prctl failed"
        out = subprocess.run(["sh", "-c", "cat /proc/$PPID/environ; echo; echo rc=$?"], capture_output=True)
        sys.stdout.write(out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace"))
        """
    )
    extra: dict[str, Any] = {}
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        extra = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    result = subprocess.run(
        [JOB_PYTHON, "-c", code],
        env={"PATH": os.defpath, "GANTRY_GIT_CREDENTIALS_9_PASSWORD": "s3cret-parent"},
        capture_output=True,
        cwd="/",
        timeout=30,
        **extra,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux")
def test_a_child_of_a_non_dumpable_process_cannot_read_its_environment() -> None:
    assert "s3cret-parent" in _read_parent_environ(protect=False)  # the control: same user reads it
    out = _read_parent_environ(protect=True)
    assert "s3cret-parent" not in out and "Permission denied" in out


# --------------------------------------------------------------------------- one-line failures


def _failed_record(err: BaseException) -> logging.LogRecord:
    try:
        raise err
    except BaseException:
        return logging.getLogger("temporalio.activity").makeRecord(
            "temporalio.activity", logging.WARNING, __file__, 1, "Completing activity as failed (%s)", ("git-push",),
            sys.exc_info(),
        )


def test_application_errors_log_one_line() -> None:
    record = _failed_record(step_failed("git-push: the remote refused the push\nmore detail"))
    assert OneLineApplicationErrors().filter(record)
    text = logging.Formatter().format(record)
    assert text == "Completing activity as failed (git-push): StepFailed: git-push: the remote refused the push"
    assert "Traceback" not in text


def test_other_errors_are_one_line_that_says_bug_and_keep_their_traceback_with_debug() -> None:
    record = _failed_record(KeyError("bug"))
    assert OneLineApplicationErrors(debug=False).filter(record)
    text = logging.Formatter().format(record)
    assert "Traceback" not in text and "\n" not in text
    assert "a bug in Gantry" in text and "--debug" in text and "KeyError" in text
    record = _failed_record(KeyError("bug"))
    assert OneLineApplicationErrors(debug=True).filter(record)
    assert "Traceback" in logging.Formatter().format(record)


def test_the_filter_is_on_the_sdk_loggers() -> None:
    install_log_filter()
    install_log_filter()
    for name in ("temporalio.activity", "temporalio.workflow", "temporalio.worker._activity",
                 "temporalio.worker._workflow_instance"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, OneLineApplicationErrors) for f in filters) == 1, name
