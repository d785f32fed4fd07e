"""What the worker keeps to itself: promotion working directories are private to its
user (a local job running as ``nobody`` cannot read other promotions' checkouts), and the
Temporal dev server that ``gantry dev`` starts gets none of Gantry's variables."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.steps.base import workdir
from activities.workdir import WorkdirActivities
from client.devserver import DevServer, free_port
from tests.gitrepos import work_root  # noqa: F401  (fixture)


async def test_a_working_directory_is_private_to_the_worker_user(work_root: Path) -> None:  # noqa: F811
    await ActivityEnvironment().run(WorkdirActivities("q").claim_worker, "promotion/p/dev/abc")
    mode = stat.S_IMODE(workdir("promotion/p/dev/abc").stat().st_mode)
    assert mode == 0o700, oct(mode)


def test_the_dev_server_gets_no_gantry_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_GIT_CREDENTIALS_7_PASSWORD", "dev-server-must-not-see-this")
    monkeypatch.setenv("GANTRY_TEST_CANARY", "canary")
    server = DevServer(db_file=tmp_path / "t.db", port=free_port(), ui_port=None, log_file=tmp_path / "log").start()
    try:
        assert server.process is not None
        environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
    finally:
        server.stop()
    names = {e.split(b"=", 1)[0].decode() for e in environ if e}
    assert "PATH" in names
    assert not [n for n in names if n.startswith("GANTRY_")], names
