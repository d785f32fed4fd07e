"""measure-job: local processes (exit code, env, live log, cancellation, backoffLimit), and
Kubernetes mode against the loopback fake of the batch/v1 API."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.metrics.base import MeasureRequest, MeasureResult, log_path  # noqa: E402
from activities.metrics.job import measure_job  # noqa: E402
from activities.metrics.job_kubernetes import k8s_job_name  # noqa: E402
from activities.metrics.job_spec import image_env_names  # noqa: E402
from tests.jobs import JOB_PYTHON, remove, shared_dir  # noqa: E402

# the interpreter the job's user can run (a root worker runs jobs as nobody)
PY = JOB_PYTHON


@pytest.fixture(autouse=True)
def work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GANTRY_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("GANTRY_JOB_KUBERNETES_API", raising=False)
    yield tmp_path / "work"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder the job's user can write into (pytest's tmp_path may be private to root)."""
    path = shared_dir()
    yield path
    remove(path)


def job(command: list[str] | None = None, args: list[str] | None = None, env: dict[str, str] | None = None,
        image: str = "my-registry/tests:latest", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "runner", "image": image}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"job": {"spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}, **spec}}}


def req(provider: dict[str, Any], run: str = "run-1", metric: str = "integration-test", **kw: Any) -> MeasureRequest:
    return MeasureRequest(run=run, metric=metric, provider=provider, **kw)


async def measure(r: MeasureRequest, env: ActivityEnvironment | None = None) -> MeasureResult:
    return await (env or ActivityEnvironment()).run(measure_job, r)


def py(code: str) -> list[str]:
    return [PY, "-c", code]


async def test_exit_zero_is_successful() -> None:
    r = await measure(req(job(py("print('all tests passed')"), backoffLimit=0)))
    assert r.phase == "Successful"
    assert r.value == 0
    assert "all tests passed" in r.message
    assert r.metadata["exitCode"] == "0" and r.metadata["tries"] == "1"
    log = log_path("run-1", "integration-test")
    assert r.metadata["logPath"] == str(log)
    assert "all tests passed" in log.read_text()


async def test_exit_one_is_failed_with_last_lines() -> None:
    code = "import sys\nfor i in range(30): print('line', i)\nsys.stdout.flush(); print('boom', file=sys.stderr)\nsys.exit(3)"
    r = await measure(req(job(py(code), backoffLimit=0)))
    assert r.phase == "Failed"
    assert r.value == 3
    assert "boom" in r.message and "line 29" in r.message
    assert "line 0\n" not in r.message  # only the last lines


async def test_env_and_args_are_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_1_PASSWORD", "worker-secret")
    code = (
        "import os, sys\n"
        "print('TARGET', os.environ['TARGET_URL'])\n"
        "print('ARGS', sys.argv[1:])\n"
        "print('RUN', os.environ['GANTRY_ANALYSIS_RUN'])\n"
        "print('LEAK', 'GANTRY_GIT_CREDENTIALS_1_PASSWORD' in os.environ)\n"
    )
    r = await measure(req(job([PY, "-c", code], args=["--tag", "v1.2.3"], env={"TARGET_URL": "http://my-app"}, backoffLimit=0)))
    assert r.phase == "Successful", r.message
    assert "TARGET http://my-app" in r.message
    assert "ARGS ['--tag', 'v1.2.3']" in r.message
    assert "RUN run-1" in r.message
    assert "LEAK False" in r.message


async def test_output_is_streamed_to_the_log_while_running(shared: Path) -> None:
    gate = shared / "gate"
    code = (
        "import os, time\n"
        "print('started', flush=True)\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
        "print('finished', flush=True)\n"
    )
    task = asyncio.ensure_future(measure(req(job(py(code), backoffLimit=0), metric="live")))
    log = log_path("run-1", "live")
    deadline = time.monotonic() + 20
    while not (log.exists() and "started" in log.read_text()):
        assert time.monotonic() < deadline, "the first line never reached the log file"
        assert not task.done()
        await asyncio.sleep(0.05)
    assert not task.done(), "the line must appear while the process still runs"
    assert "finished" not in log.read_text().splitlines()
    gate.write_text("go")
    r = await asyncio.wait_for(task, 20)
    assert r.phase == "Successful"
    lines = log.read_text().splitlines()
    assert lines.index("started") < lines.index("finished")


async def test_cancellation_kills_the_process_group(shared: Path) -> None:
    pids = shared / "pids"
    # the job starts a child that would outlive it unless the whole group is killed
    code = (
        "import subprocess, sys, time, os\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('running', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = ActivityEnvironment()
    task = asyncio.ensure_future(measure(req(job(py(code), backoffLimit=3), metric="cancel-me"), env))
    deadline = time.monotonic() + 20
    while not pids.exists() or not pids.read_text():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 20)
    for pid in map(int, pids.read_text().split()):
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            # a zombie child of ours counts as dead
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"process {pid} survived the cancellation")
    assert "cancelled" in log_path("run-1", "cancel-me").read_text()


async def test_backoff_limit_retries_failed_tries(shared: Path) -> None:
    counter = shared / "count"
    code = (
        f"import sys; p={str(counter)!r}\n"
        "n = int(open(p).read()) if __import__('os').path.exists(p) else 0\n"
        "open(p, 'w').write(str(n + 1)); print('try', n + 1)\n"
        "sys.exit(0 if n + 1 >= 3 else 1)\n"
    )
    r = await measure(req(job(py(code), backoffLimit=2), metric="flaky"))
    assert r.phase == "Successful" and r.metadata["tries"] == "3"
    counter.unlink()
    r = await measure(req(job(py(code), backoffLimit=1), metric="flaky2"))
    assert r.phase == "Failed" and r.metadata["tries"] == "2" and r.value == 1
    r = await measure(req(job(py("import sys; sys.exit(1)"), backoffLimit=0), metric="once"))
    assert r.metadata["tries"] == "1"
    log = log_path("run-1", "flaky2").read_text()
    assert "try 1/2" in log and "try 2/2" in log


async def test_active_deadline_stops_the_job() -> None:
    r = await measure(req(job(py("import time; print('x', flush=True); time.sleep(30)"), backoffLimit=0,
                              activeDeadlineSeconds=1), metric="slow"))
    assert r.phase == "Failed" and "deadline" in r.message


async def test_image_without_command_is_an_error_unless_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    seed = job(image="my-registry/integration-tests:latest", env={"TARGET_URL": "http://x"}, backoffLimit=1)
    r = await measure(req(seed))
    assert r.phase == "Error"
    assert "needs containers[0].command" in r.message
    assert "GANTRY_JOB_IMAGE_MY_REGISTRY_INTEGRATION_TESTS_LATEST" in r.message
    monkeypatch.setenv("GANTRY_JOB_IMAGE_MY_REGISTRY_INTEGRATION_TESTS", f"{PY} -c 'import os; print(os.environ[\"TARGET_URL\"])'")
    r = await measure(req(seed))
    assert r.phase == "Successful", r.message
    assert "http://x" in r.message


async def test_command_not_found_is_an_error() -> None:
    r = await measure(req(job(["/nonexistent/run-tests"], backoffLimit=0)))
    assert r.phase == "Error" and "cannot start" in r.message


async def test_bad_spec_is_an_error() -> None:
    assert (await measure(req({"job": {}}))).phase == "Error"
    assert (await measure(req({"job": {"spec": {"template": {"spec": {"containers": []}}}}}))).phase == "Error"
    assert (await measure(req(job(["true"], backoffLimit=-1)))).phase == "Error"


def test_image_env_names() -> None:
    assert image_env_names("my-registry/integration-tests:latest") == [
        "GANTRY_JOB_IMAGE_MY_REGISTRY_INTEGRATION_TESTS_LATEST",
        "GANTRY_JOB_IMAGE_MY_REGISTRY_INTEGRATION_TESTS",
    ]
    assert image_env_names("localhost:5000/app") == ["GANTRY_JOB_IMAGE_LOCALHOST_5000_APP"]
    assert image_env_names("app@sha256:abc")[1] == "GANTRY_JOB_IMAGE_APP"


def test_k8s_job_name() -> None:
    assert k8s_job_name("Run_1", "integration-test", 0) == "run-1.integration-test.0"
    long = k8s_job_name("r" * 80, "m", 3)
    assert len(long) <= 63


# --------------------------------------------------------------------------- Kubernetes mode

from tests.fakes.kubernetes import FakeKubernetes  # noqa: E402


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetes]:
    with FakeKubernetes(token="kube-token") as fake:
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_API", fake.url)
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_NAMESPACE", "analysis")
        monkeypatch.setenv("GANTRY_JOB_KUBERNETES_POLL", "0.05")
        monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_K_URL", fake.url)
        monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_K_TOKEN", "kube-token")
        yield fake


SEED_JOB = job(image="my-registry/integration-tests:latest", env={"TARGET_URL": "http://my-app"}, backoffLimit=1)


async def test_kubernetes_job_succeeds(kube: FakeKubernetes) -> None:
    kube.complete_after = 3
    r = await measure(req(SEED_JOB))
    assert r.phase == "Successful", r.message
    assert r.value == 0
    assert r.metadata["mode"] == "kubernetes"
    assert r.metadata["job"] == "analysis/run-1.integration-test.0"
    (created,) = [j.body for j in kube.jobs.values()]
    assert created["kind"] == "Job" and created["metadata"]["namespace"] == "analysis"
    assert created["metadata"]["labels"]["gantry.io/metric"] == "integration-test"
    container = created["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "my-registry/integration-tests:latest"
    assert container["env"] == [{"name": "TARGET_URL", "value": "http://my-app"}]
    assert created["spec"]["backoffLimit"] == 1
    lines = log_path("run-1", "integration-test").read_text().splitlines()
    assert lines.count("running tests") == 1 and lines.count("all passed") == 1
    assert "all passed" in r.message


async def test_kubernetes_job_fails_with_exit_code(kube: FakeKubernetes) -> None:
    kube.exit_code = 2
    kube.output = ["test_login FAILED"]
    r = await measure(req(SEED_JOB))
    assert r.phase == "Failed" and r.value == 2
    assert "test_login FAILED" in r.message and "backoff limit" in r.message


async def test_kubernetes_retried_activity_follows_its_job(kube: FakeKubernetes) -> None:
    await measure(req(SEED_JOB))
    before = len(kube.jobs)
    r = await measure(req(SEED_JOB, attempt=2))
    assert r.phase == "Successful" and len(kube.jobs) == before


async def test_kubernetes_cancel_deletes_the_job(kube: FakeKubernetes) -> None:
    kube.complete_after = 10_000
    env = ActivityEnvironment()
    task = asyncio.ensure_future(measure(req(SEED_JOB, metric="cancel-k8s"), env))
    # cancel once the activity follows the job it created: it has read the job's status twice
    deadline = time.monotonic() + 10
    while sum(j.polls for j in list(kube.jobs.values())) < 2:
        assert time.monotonic() < deadline, "the activity never followed its job"
        assert not task.done(), task
        await asyncio.sleep(0.02)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert kube.deleted == [("analysis", "run-1.cancel-k8s.0")]


async def test_kubernetes_without_token_or_api_is_an_error(kube: FakeKubernetes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_HTTP_CREDENTIALS_K_TOKEN")
    r = await measure(req(SEED_JOB))
    assert r.phase == "Error" and "401" in r.message
    monkeypatch.setenv("GANTRY_JOB_KUBERNETES_API", "http://127.0.0.1:1")
    r = await measure(req(SEED_JOB))
    assert r.phase == "Error" and "ConnectError" in r.message
