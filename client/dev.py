"""`gantry dev` and `gantry worker`: the processes operators run.

`gantry dev` owns its Temporal server, and nothing else:
- one `gantry dev` per data directory (an fcntl lock on `gantry-dev.lock` there), and none
  while a server an earlier one started still runs on it (`temporal.pid`);
- the frontend and UI ports must be free before it starts, and the server listening on the
  frontend port must be its own, before its worker connects;
- the server dies with it, however it dies (SIGKILL included: the server gets SIGKILL when
  its parent ends, client/devserver.py), and when the server exits, `gantry dev` exits too.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import time
from pathlib import Path

import structlog

from client.api import GantryError
from client.devserver import (
    DevServer,
    ensure_search_attributes,
    is_temporal_server,
    listens_on,
    missing_search_attributes,
    port_in_use,
)
from client.health import HealthServer, HealthState
from client.output import console
from client.settings import TemporalSettings
from client.worker import install_log_filter, run_workers

log = structlog.get_logger("gantry")

LOCK_FILE = "gantry-dev.lock"
PID_FILE = "temporal.pid"
#: how often `gantry dev` looks whether its server still runs
WATCH_SERVER_EVERY = 0.5


class DevError(GantryError):
    """`gantry dev` cannot run as asked; the message says why and what to do."""


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass


#: how long a starting worker waits for its Temporal server (restarting with it, say)
WORKER_CONNECT_TIMEOUT = 120.0


async def run_worker_forever(
    settings: TemporalSettings,
    worker_id: str | None = None,
    *,
    grace: float | None = None,
    health_port: int | None = None,
    metrics_port: int | None = None,
) -> None:
    """A worker until SIGINT/SIGTERM, then a graceful stop (running steps get ``grace``
    seconds, client/worker.py). A server that is not up yet (it restarts at the same
    time, or comes up after the worker) is waited for, up to WORKER_CONNECT_TIMEOUT, rather
    than the worker exiting; once connected, the SDK rides out server restarts itself.
    With ``health_port``, ``/healthz`` and ``/readyz`` answer there (client/health.py); with
    ``metrics_port``, Prometheus metrics (client/telemetry.py)."""
    install_log_filter()
    extra = {}
    if metrics_port:
        from client.telemetry import metrics_runtime

        extra["runtime"] = metrics_runtime(metrics_port)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    state = HealthState()
    server = HealthServer(state, health_port).start() if health_port is not None else None
    if server is not None:
        log.info("health endpoints", port=server.port, paths=["/healthz", "/readyz"])
    try:
        try:
            client = await settings.connect(**extra)
        except RuntimeError as err:
            log.warning("waiting for the Temporal server", address=settings.address, error=str(err).splitlines()[0])
            client = await settings.connect_when_ready(timeout=WORKER_CONNECT_TIMEOUT, **extra)
        missing = await missing_search_attributes(client, client.namespace)
        if missing:
            state.search_attributes = "missing on the server: " + ", ".join(missing)
            log.error(
                "Gantry's search attributes are missing on the Temporal server; `gantry dev` adds them, "
                "or `temporal operator search-attribute create` (docs/operations.md)",
                missing=missing,
            )
        else:
            state.search_attributes = None
        await run_workers(client, stop=stop, health=state, task_queue=settings.task_queue, worker_id=worker_id, grace=grace)
        # steps the grace period cut off are cancelled, but a thread may still wait on their
        # git: it must not push after the step has moved to another worker, nor keep the
        # process from exiting
        killed = kill_descendants()
        if killed:
            log.warning("stopped the processes of steps the grace period cut off", pids=killed)
    finally:
        if server is not None:
            server.stop()


def _children_of() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (empty elsewhere than Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    return children


def kill_descendants(pid: int | None = None, rounds: int = 50) -> list[int]:
    """SIGKILL every process below ``pid`` (this process): the git commands and hooks of
    steps a stopping worker cut off. Looks again until none is left (a dying shell may have
    started another child meanwhile), at most ``rounds`` times. Returns the pids signalled."""
    root = pid or os.getpid()
    signalled: list[int] = []
    for _ in range(rounds):
        tree = _children_of()
        todo, found = list(tree.get(root, [])), []
        while todo:
            child = todo.pop()
            found.append(child)
            todo.extend(tree.get(child, []))
        alive = [child for child in found if _alive(child)]
        if not alive:
            break
        for child in alive:
            try:
                os.kill(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        signalled.extend(c for c in alive if c not in signalled)
        time.sleep(0.05)
    return signalled


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead and not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")


class DataDir:
    """The lock of `gantry dev` on its data directory and the pid file of its server."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock_path = directory / LOCK_FILE
        self.pid_path = directory / PID_FILE
        self._lock: int | None = None

    def acquire(self) -> None:
        """Lock the directory, or refuse: another `gantry dev` runs on it, or a server an
        earlier one started still does. A stale pid file is replaced."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(self.lock_path)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise DevError(
                f"another `gantry dev`{who} uses the data directory {self.directory}: stop it first "
                f"(Ctrl-C in its terminal{f', or kill {holder}' if holder else ''}), or pass another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd
        server = _read_pid(self.pid_path)
        if server and is_temporal_server(server):
            self._unlock()  # the pid file stays: it names a server that still runs
            raise DevError(
                f"a Temporal server started by an earlier `gantry dev` still runs on the data directory "
                f"{self.directory} (pid {server}): stop it with `kill {server}`, then start again"
            )
        self.pid_path.unlink(missing_ok=True)  # stale, if there was one

    def record_server(self, pid: int) -> None:
        self.pid_path.write_text(f"{pid}\n")

    def release(self) -> None:
        self.pid_path.unlink(missing_ok=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the file drops the lock
            self._lock = None


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def check_ports(server: DevServer) -> None:
    """Refuse ports something already listens on (a second server there would die while
    this process's worker attached to the first)."""
    ports = [(server.port, "--port", "Temporal frontend")]
    if server.ui_port:
        ports.append((server.ui_port, "--ui-port", "Temporal Web"))
    for port, flag, what in ports:
        if port_in_use(server.ip, port):
            raise DevError(
                f"port {port} ({what}) is already in use on {server.ip}: stop what listens there, "
                f"or choose another port with {flag}"
            )


async def _start_own_server(server: DevServer) -> None:
    """Start the server; return once it listens and the listener is its own."""
    try:
        server.start()  # in this thread: the server dies with the thread that started it
    except RuntimeError as err:
        raise DevError(f"the Temporal dev server did not start: {err}") from None
    assert server.process is not None
    owner = listens_on(server.process.pid, server.port)
    if owner is False:
        server.stop()
        raise DevError(
            f"another program took port {server.port} while the Temporal dev server started; "
            "choose another port with --port"
        )


async def _watch_server(server: DevServer) -> int:
    """Return the server's exit code when it exits."""
    while True:
        process = server.process
        if process is None:
            return 0
        code = process.poll()
        if code is not None:
            return code
        await asyncio.sleep(WATCH_SERVER_EVERY)


async def run_dev(server: DevServer, *, with_worker: bool = True, data: DataDir | None = None) -> None:
    """Dev server + search attributes + (optionally) a worker, until Ctrl-C or SIGTERM, or
    until the server exits (then a DevError)."""
    data = data or DataDir(server.db_file.parent)
    data.acquire()
    try:
        check_ports(server)
        await _start_own_server(server)
        assert server.process is not None
        data.record_server(server.process.pid)
        settings = TemporalSettings(address=server.address, namespace="default")
        watcher = asyncio.ensure_future(_watch_server(server))
        connecting = asyncio.ensure_future(settings.connect_when_ready())
        await asyncio.wait({watcher, connecting}, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done():
            connecting.cancel()
            raise _server_exited(server, watcher.result())
        client = connecting.result()
        await ensure_search_attributes(client)
        if server.process is None or server.process.poll() is not None or listens_on(server.process.pid, server.port) is False:
            raise _server_exited(server, server.process.poll() if server.process else None)
        console.print(f"Temporal dev server on [bold]{server.address}[/bold], data in {server.db_file}")
        if server.ui_port:
            console.print(f"Temporal Web: http://{server.ip}:{server.ui_port}")
        stop = asyncio.Event()
        _stop_on_signals(stop)
        if with_worker:
            console.print("Worker running. Ctrl-C stops both.")
            work = asyncio.ensure_future(run_workers(client, stop=stop))
        else:
            work = asyncio.ensure_future(stop.wait())
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done() and not work.done():
            stop.set()
            try:
                await asyncio.wait_for(work, 10)
            except (asyncio.TimeoutError, Exception):
                pass
            raise _server_exited(server, watcher.result())
        watcher.cancel()
        await work
    finally:
        server.stop()
        data.release()


def _server_exited(server: DevServer, code: int | None) -> DevError:
    where = f"; see {server.log_file}" if server.log_file else ""
    return DevError(f"the Temporal dev server on {server.address} exited (code {code}){where}")
