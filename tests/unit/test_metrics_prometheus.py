"""measure-prometheus against a real Prometheus scraping an app whose error rate the test sets."""

from __future__ import annotations

import json
import math
import socket
import sys
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.metrics import PROVIDERS, activity_for  # noqa: E402
from activities.metrics.base import MeasureRequest, MeasureResult  # noqa: E402
from activities.metrics.prometheus import measure_prometheus, parse_result  # noqa: E402
from tests.prometheus import PrometheusServer  # noqa: E402

env = ActivityEnvironment()

SEED_QUERY = """sum(rate(http_requests_total{status=~"5.*",app="my-app",namespace="uat"}[5m]))
/
sum(rate(http_requests_total{app="my-app",namespace="uat"}[5m]))
"""


def req(address: str, query: str, **extra: object) -> MeasureRequest:
    return MeasureRequest(
        run="run-1", metric="error-rate", provider={"prometheus": {"address": address, "query": query, **extra}}
    )


async def measure(r: MeasureRequest) -> MeasureResult:
    return await env.run(measure_prometheus, r)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_registry() -> None:
    from activities.metrics import METRIC_ACTIVITIES

    assert PROVIDERS == {"prometheus": "measure-prometheus", "web": "measure-web", "job": "measure-job"}
    names = {a.__temporal_activity_definition.name for a in METRIC_ACTIVITIES}  # type: ignore[attr-defined]
    assert names == set(PROVIDERS.values())
    assert activity_for({"job": {}}) == "measure-job"
    assert activity_for({"datadog": {}}) is None


async def test_scalar(prometheus: PrometheusServer) -> None:
    result = await measure(req(prometheus.address, "scalar(vector(0.25))"))
    assert result.phase is None, result.message
    assert result.value == 0.25
    assert result.metadata["ResolvedPrometheusQuery"] == "scalar(vector(0.25))"
    assert result.metadata["resultType"] == "scalar"


async def test_vector_from_scraped_app(prometheus: PrometheusServer) -> None:
    prometheus.app.set_error_rate(0.5, app="vector-app", namespace="uat")
    q = 'http_requests_total{app="vector-app"}'
    prometheus.wait_for(q, lambda d: len(d["result"]) == 2)
    result = await measure(req(prometheus.address, f"sort_desc({q})"))
    assert result.phase is None, result.message
    assert isinstance(result.value, list) and len(result.value) == 2
    assert all(isinstance(v, float) and v >= 0 for v in result.value)
    assert result.metadata["resultType"] == "vector"


async def test_empty_vector_is_empty_list(prometheus: PrometheusServer) -> None:
    result = await measure(req(prometheus.address, 'http_requests_total{app="nobody"}'))
    assert result.phase is None and result.value == []


async def test_matrix_gives_last_value_of_each_series(prometheus: PrometheusServer) -> None:
    prometheus.app.set_error_rate(0.0, app="matrix-app", namespace="uat")
    q = 'http_requests_total{app="matrix-app",status="200"}'
    prometheus.wait_for(q)
    result = await measure(req(prometheus.address, q + "[1m]"))
    assert result.phase is None, result.message
    assert result.metadata["resultType"] == "matrix"
    assert len(result.value) == 1 and result.value[0] > 0


async def test_nan_is_kept_and_survives_the_data_converter(prometheus: PrometheusServer) -> None:
    result = await measure(req(prometheus.address, "vector(0) / vector(0)"))
    assert result.phase is None
    assert len(result.value) == 1 and math.isnan(result.value[0])
    payload = pydantic_data_converter.payload_converter.to_payloads([result])[0]
    back = pydantic_data_converter.payload_converter.from_payloads([payload], [MeasureResult])[0]
    assert math.isnan(back.value[0])
    scalar = await measure(req(prometheus.address, "scalar(vector(1)) / 0"))
    assert scalar.value == math.inf


async def test_seed_error_rate_query(prometheus: PrometheusServer) -> None:
    prometheus.app.set_error_rate(0.1, app="my-app", namespace="uat")
    prometheus.wait_for(SEED_QUERY)
    result = await measure(req(prometheus.address, SEED_QUERY))
    assert result.phase is None, result.message
    assert len(result.value) == 1
    assert result.value[0] == pytest.approx(0.1, abs=0.01)
    # the seed's successCondition `result[0] < 0.05` would fail this measurement
    assert not result.value[0] < 0.05


async def test_error_rate_follows_the_app(prometheus: PrometheusServer) -> None:
    q = (
        'sum(rate(http_requests_total{status=~"5.*",app="flip-app"}[3s]))'
        ' / sum(rate(http_requests_total{app="flip-app"}[3s]))'
    )
    prometheus.app.set_error_rate(0.0, app="flip-app", namespace="uat")
    prometheus.wait_for(q)
    low = await measure(req(prometheus.address, q))
    assert low.value[0] < 0.05
    prometheus.app.set_error_rate(0.5, app="flip-app", namespace="uat")
    prometheus.wait_for(q, lambda d: float(d["result"][0]["value"][1]) > 0.4)
    high = await measure(req(prometheus.address, q))
    assert high.value[0] > 0.4


async def test_unreachable_prometheus_is_an_error_measurement() -> None:
    result = await measure(req(f"http://127.0.0.1:{closed_port()}", "up", timeout=5))
    assert result.phase == "Error"
    assert "ConnectError" in result.message
    assert result.metadata["ResolvedPrometheusQuery"] == "up"


async def test_bad_query_is_an_error_measurement(prometheus: PrometheusServer) -> None:
    result = await measure(req(prometheus.address, "sum(rate(http_requests_total[5m]"))
    assert result.phase == "Error"
    assert "400" in result.message and "bad_data" in result.message


async def test_missing_fields_are_error_measurements() -> None:
    r = await measure(MeasureRequest(run="r", metric="m", provider={"prometheus": {"query": "up"}}))
    assert r.phase == "Error" and "address" in r.message
    r = await measure(MeasureRequest(run="r", metric="m", provider={"address": "http://127.0.0.1:1"}))
    assert r.phase == "Error" and "query" in r.message
    r = await measure(req("not a url", "up"))
    assert r.phase == "Error"


async def test_credentials_from_the_store_never_in_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bearer token from the credential store reaches Prometheus; it is not in the result."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_P_URL", address)
        monkeypatch.setenv("GANTRY_HTTP_CREDENTIALS_P_TOKEN", "s3cr3t-token")
        result = await measure(req(address, "up", headers=[{"key": "X-Scope-OrgID", "value": "team-a"}]))
        assert result.value == 3.0
        assert seen == ["Bearer s3cr3t-token"]
        assert "s3cr3t" not in result.model_dump_json()
    finally:
        server.shutdown()
        server.server_close()


def test_parse_result_shapes() -> None:
    assert parse_result({"resultType": "scalar", "result": [1.0, "+Inf"]}) == (math.inf, "scalar")
    assert parse_result({"resultType": "vector", "result": [{"metric": {}, "value": [1, "2"]}]}) == ([2.0], "vector")
    with pytest.raises(ValueError, match="not supported"):
        parse_result({"resultType": "string", "result": [1, "x"]})
