"""The Temporal runtime a worker runs on, with its metrics exporter.

`gantry worker --metrics-port N` serves Prometheus metrics at `http://<host>:N/metrics`: the
Temporal SDK's own (workflow and activity task latencies, pollers, slots, ...) and Gantry's
(workflows/metrics.py, names starting `gantry_`), one exporter for both. Counters end in
`_total`, durations are in seconds, the SDK's names start with `temporal_`.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

_RUNTIMES: dict[str, Runtime] = {}


def metrics_runtime(port: int, host: str = "0.0.0.0") -> Runtime:
    """A runtime exporting metrics on host:port (one per address and process)."""
    address = f"{host}:{port}"
    if address not in _RUNTIMES:
        _RUNTIMES[address] = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
            )
        )
    return _RUNTIMES[address]
