"""`gantry version`: Gantry's version, the Temporal SDK's, and the connected server's."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from importlib import metadata

import typer

SERVER_TIMEOUT = 5.0


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


async def server_version(settings, timeout: float = SERVER_TIMEOUT) -> str:
    """The server's version from GetClusterInfo; a RuntimeError/TimeoutError if unreachable."""
    from temporalio.api.workflowservice.v1 import GetClusterInfoRequest
    from temporalio.client import Client

    from client.settings import quiet_runtime

    # the plain converter: the version needs no payloads, so no codec keys either
    client = await asyncio.wait_for(Client.connect(**settings.connect_config(), runtime=quiet_runtime()), timeout)
    info = await client.workflow_service.get_cluster_info(GetClusterInfoRequest(), timeout=timedelta(seconds=timeout))
    return info.server_version or "unknown"


def register(app: typer.Typer) -> None:
    from client.cli import State

    @app.command()
    def version() -> None:
        """Print Gantry's version, the temporalio SDK's, and the Temporal server's (when reachable)."""
        print(f"gantry {_package_version('gantry')}")
        print(f"temporalio SDK {_package_version('temporalio')}")
        address = State.settings.connect_config().get("target_host", "")
        try:
            found = asyncio.run(server_version(State.settings))
        except Exception as err:  # unreachable, refused, TLS, timeout: say so, still exit 0
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            print(f"temporal server at {address}: not reachable ({reason})")
            return
        print(f"temporal server {found} at {address}")
