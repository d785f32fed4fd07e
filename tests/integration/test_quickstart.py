"""The README's first command, as a test: examples/quickstart/run.sh from image push to
staging, on its own dev server, registry and GitOps repository (it needs the registry's
fixed port 127.0.0.1:5001, and skips when that is taken or docker-registry is missing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from client.devserver import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def quickstart_port() -> int:
    """A free frontend port whose Web UI port (run.sh: port + 1000) is free too: a free
    ephemeral port says nothing of the one 1000 above it (an outgoing connection may hold it)."""
    for _ in range(50):
        port = free_port()
        if port + 1000 <= 65535 and bindable(port + 1000):
            return port
    raise AssertionError("no free pair of ports (port, port + 1000) in 50 tries")


def test_quickstart_takes_a_pushed_image_to_staging(tmp_path: Path) -> None:
    if not (shutil.which("docker-registry") or shutil.which("registry")):
        pytest.skip("docker-registry not installed (Debian package docker-registry)")
    if port_taken(5001):
        pytest.skip("127.0.0.1:5001 (the quickstart registry's port) is in use")
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "GANTRY": str(bin_dir / "gantry"),
        "PYTHON": sys.executable,
        "GANTRY_DATA_DIR": str(tmp_path / "data"),
        "QUICKSTART_PORT": str(quickstart_port()),
        "COLUMNS": "200",
    }
    run = subprocess.run(
        ["bash", str(ROOT / "examples/quickstart/run.sh")], env=env, capture_output=True, text=True, timeout=280
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    for line in ("1.0.0 is in dev, verified", "1.0.0 is in staging, verified", "1.1.0 is in staging, verified",
                 "OK: dev now runs 127.0.0.1:5001/guestbook:1.1.0", "OK: staging now runs 127.0.0.1:5001/guestbook:1.1.0"):  # fmt: skip
        assert line in out, out[-4000:]
