"""`gantry dev` owns its Temporal server and nothing else (issue 12, part 4): it refuses taken
ports and a data directory in use, takes its server down however it dies (SIGKILL too), and
exits when its server exits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from client.devserver import DevServer, free_port, is_temporal_server, pid_alive
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


class Dev:
    """`python -m client.cli dev` in a subprocess, its output in a file."""

    def __init__(self, tmp: Path, data: Path, *, port: int | None = None, ui_port: int | None = None, worker: bool = True):
        self.data = data
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        self.out = tmp / f"dev-{self.port}.out"
        args = [sys.executable, "-m", "client.cli", "dev", "--data-dir", str(data), "--port", str(self.port),
                "--ui-port", str(self.ui_port)] + ([] if worker else ["--no-worker"])  # fmt: skip
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "NO_COLOR": "1"},
            )  # fmt: skip

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def server_pid(self) -> int | None:
        try:
            return int((self.data / "temporal.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    async def ready(self, worker: bool = True) -> int:
        words = "Worker running" if worker else "Temporal dev server on"
        await wait_for(lambda: words in self.output() or self.proc.poll() is not None, timeout=60,
                       message="gantry dev to start")  # fmt: skip
        assert self.proc.poll() is None, self.output()
        pid = self.server_pid()
        assert pid and is_temporal_server(pid), self.output()
        return pid

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        return self.proc.wait(timeout), self.output()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        pid = self.server_pid()
        if pid and is_temporal_server(pid):  # never leave a server behind, whatever the test did
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def devs(tmp_path: Path):
    started: list[Dev] = []

    def start(data: Path | None = None, **kwargs) -> Dev:
        dev = Dev(tmp_path, data or tmp_path / "data", **kwargs)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.kill()


async def test_sigkill_of_gantry_dev_takes_its_server_down(devs) -> None:
    dev = devs()
    server = await dev.ready()
    dev.proc.send_signal(signal.SIGKILL)
    dev.proc.wait(10)
    await wait_for(lambda: not pid_alive(server), timeout=10, message=f"temporal server {server} to die with gantry dev")


async def test_sigterm_stops_the_server_and_exits_0(devs) -> None:
    dev = devs(worker=False)
    server = await dev.ready(worker=False)
    dev.proc.send_signal(signal.SIGTERM)
    code, out = dev.finish()
    assert code == 0, out
    assert not pid_alive(server)
    assert not (dev.data / "temporal.pid").exists()


@pytest.mark.parametrize("which, flag", [("port", "--port"), ("ui_port", "--ui-port")])
async def test_a_taken_port_is_one_clear_error(devs, which: str, flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = devs(**{which: port})
        code, out = dev.finish()
    assert code == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert f"port {port}" in out and flag in out and "already in use" in out
    assert dev.server_pid() is None, "no server was started"


async def test_one_gantry_dev_per_data_dir_and_it_exits_when_its_server_dies(devs, tmp_path: Path) -> None:
    first = devs(worker=False)
    server = await first.ready(worker=False)

    second = devs(worker=False)  # same data dir, other ports
    code, out = second.finish()
    assert code == 1, out
    assert out.strip() == (
        f"error: another `gantry dev` (pid {first.proc.pid}) uses the data directory {first.data}: stop it first "
        f"(Ctrl-C in its terminal, or kill {first.proc.pid}), or pass another --data-dir"
    )
    assert first.proc.poll() is None, "the first one runs on"

    os.kill(server, signal.SIGKILL)  # its server dies: gantry dev says so and exits
    code, out = first.finish()
    assert code == 1
    assert f"error: the Temporal dev server on 127.0.0.1:{first.port} exited" in out, out

    # a pid file left behind by a server that is gone is stale: replaced, and dev starts
    (first.data / "temporal.pid").write_text(f"{server}\n")
    third = devs(worker=False)
    assert await third.ready(worker=False) != server


async def test_a_server_still_running_on_the_data_dir_is_refused(devs, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    leftover = DevServer(db_file=data / "temporal.db", port=free_port(), ui_port=None, log_file=tmp_path / "left.log")
    leftover.start()  # as if an earlier `gantry dev` left it running
    try:
        assert leftover.process is not None
        pid = leftover.process.pid
        (data / "temporal.pid").write_text(f"{pid}\n")
        dev = devs(data, worker=False)
        code, out = dev.finish()
        assert code == 1, out
        assert f"still runs on the data directory {data} (pid {pid}): stop it with `kill {pid}`" in out
        assert leftover.process.poll() is None, "refusing does not touch it"
        assert (data / "temporal.pid").read_text().strip() == str(pid), "nor its pid file"
        code, out = devs(data, worker=False).finish()  # still refused the second time
        assert code == 1 and f"(pid {pid})" in out, out
    finally:
        leftover.stop()
