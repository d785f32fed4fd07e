"""`gantry dev` and `gantry worker`: the processes operators run."""

from __future__ import annotations

import asyncio
import signal

import structlog

from client.devserver import DevServer, ensure_search_attributes
from client.output import console
from client.settings import TemporalSettings
from client.worker import run_workers

log = structlog.get_logger("gantry")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass


#: how long a starting worker waits for its Temporal server (restarting with it, say)
WORKER_CONNECT_TIMEOUT = 120.0


async def run_worker_forever(settings: TemporalSettings, worker_id: str | None = None) -> None:
    """A worker until SIGINT/SIGTERM. A server that is not up yet (it restarts at the same
    time, or comes up after the worker) is waited for, up to WORKER_CONNECT_TIMEOUT, rather
    than the worker exiting; once connected, the SDK rides out server restarts itself."""
    try:
        client = await settings.connect()
    except RuntimeError as err:
        log.warning("waiting for the Temporal server", address=settings.address, error=str(err).splitlines()[0])
        client = await settings.connect_when_ready(timeout=WORKER_CONNECT_TIMEOUT)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await run_workers(client, stop=stop, task_queue=settings.task_queue, worker_id=worker_id)


async def run_dev(server: DevServer, *, with_worker: bool = True) -> None:
    """Dev server + search attributes + (optionally) a worker, until Ctrl-C."""
    server.start()
    try:
        settings = TemporalSettings(address=server.address, namespace="default")
        client = await settings.connect_when_ready()
        await ensure_search_attributes(client)
        console.print(f"Temporal dev server on [bold]{server.address}[/bold], data in {server.db_file}")
        if server.ui_port:
            console.print(f"Temporal Web: http://{server.ip}:{server.ui_port}")
        stop = asyncio.Event()
        _stop_on_signals(stop)
        if with_worker:
            console.print("Worker running. Ctrl-C stops both.")
            await run_workers(client, stop=stop)
        else:
            await stop.wait()
    finally:
        server.stop()
