"""Where to find Temporal, following Temporal's own conventions.

Settings come from (later wins): the Temporal config file profile
(`temporal.toml`, `TEMPORAL_CONFIG_FILE`, `TEMPORAL_PROFILE`), Temporal's environment
variables (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`,
`TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`,
`TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_TLS`), then
command-line flags. Nothing set means the local dev server on localhost:7233.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, TLSConfig
from temporalio.envconfig import ClientConfig

from workflows.task_queues import DEFAULT_TASK_QUEUE


def data_dir() -> Path:
    """Gantry's data directory: `GANTRY_DATA_DIR`, else ~/.local/share/gantry."""
    explicit = os.environ.get("GANTRY_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "gantry"


def validate_address(value: str) -> str:
    """`HOST:PORT` with a port number 1-65535 (`[::1]:7233` for IPv6), else a ValueError
    that says what is wrong; the address as given, stripped."""
    address = value.strip()
    host, sep, port = address.rpartition(":")
    if address.startswith("[") and "]" in address:  # [IPv6]:port
        host, sep, port = address.partition("]")[0] + "]", ":", address.partition("]")[2].removeprefix(":")
        if not address.partition("]")[2].startswith(":"):
            sep = ""
    example = "e.g. localhost:7233"
    if not sep:
        raise ValueError(f"{value!r} has no port: give HOST:PORT, {example}")
    if not host or host == "[]":
        raise ValueError(f"{value!r} has no host: give HOST:PORT, {example}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535, {example}")
    if any(c.isspace() for c in host) or "/" in host:
        raise ValueError(f"{value!r}: give HOST:PORT without a scheme or path, {example}")
    return address


def address_callback(value: str | None) -> str | None:
    """The typer callback of `--address` (and TEMPORAL_ADDRESS): refuse a bad address while
    the command line is parsed, naming the flag, rather than deep in the connection."""
    import typer

    if value is None:
        return None
    try:
        return validate_address(value)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="'--address' / TEMPORAL_ADDRESS") from None


@dataclass
class TemporalSettings:
    address: str | None = None
    namespace: str | None = None
    api_key: str | None = None
    tls: bool | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_server_name: str | None = None
    task_queue: str = DEFAULT_TASK_QUEUE

    def connect_config(self) -> dict[str, Any]:
        """Keyword arguments for `Client.connect`."""
        config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
        config.setdefault("target_host", "localhost:7233")
        if self.address:
            config["target_host"] = self.address
        if self.namespace:
            config["namespace"] = self.namespace
        if self.api_key:
            config["api_key"] = self.api_key
        if self.tls_cert or self.tls_key or self.tls_ca or self.tls_server_name:
            config["tls"] = TLSConfig(
                client_cert=_read(self.tls_cert),
                client_private_key=_read(self.tls_key),
                server_root_ca_cert=_read(self.tls_ca),
                domain=self.tls_server_name,
            )
        elif self.tls is True and not config.get("tls"):
            config["tls"] = True
        elif self.tls is False:
            config["tls"] = False
        return config

    async def connect(self, **extra: Any) -> Client:
        """A client; `extra` are more `Client.connect` arguments (interceptors...)."""
        from client.codec import data_converter
        from client.tracing import tracing_interceptors

        config = self.connect_config()
        # with GANTRY_CODEC_KEYS_FILE / GANTRY_CODEC_KEY: payloads encrypted (client/codec.py)
        config["data_converter"] = data_converter()
        traced = tracing_interceptors()  # with OTEL_EXPORTER_OTLP_ENDPOINT (client/tracing.py)
        if traced:
            extra = {**extra, "interceptors": [*extra.get("interceptors", []), *traced]}
        return await Client.connect(**config, **extra)

    async def connect_when_ready(self, timeout: float = 30.0, **extra: Any) -> Client:
        """Connect, retrying while a server that just started is not healthy yet (its port
        accepts connections a little before its frontend answers)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self.connect(**extra)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


_QUIET_RUNTIME: Any = None


def quiet_runtime() -> Any:
    """A Temporal runtime whose Rust core logs errors only (not its WARN "gRPC call ...
    retried N times" while a server restarts): for the CLI, which says in one line of its
    own what is going on. With --debug (GANTRY_DEBUG=1), the SDK's default runtime."""
    global _QUIET_RUNTIME
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    from client.errors import debug_enabled

    if debug_enabled():
        return Runtime.default()
    if _QUIET_RUNTIME is None:
        _QUIET_RUNTIME = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")),
                metrics=None,
            )
        )
    return _QUIET_RUNTIME


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None
