"""``measure-prometheus``: one instant query against the Prometheus HTTP API.

Config (Argo Rollouts' ``provider.prometheus``): ``address`` (required), ``query``
(required), ``timeout`` (seconds or a Go duration, default 30s as in Argo), ``headers``
(``[{key, value}]``), ``insecure`` (skip TLS verification).

``GET {address}/api/v1/query?query=...`` and the result becomes the measurement value:

* ``scalar``: a float;
* ``vector``: a list of floats, one per series, in the order Prometheus returns them
  (an empty vector is an empty list, so ``result[0]`` fails in the condition, as in Argo);
* ``matrix`` (a range selector such as ``x[5m]``): a list of floats, the last sample of each
  series. Argo Rollouts rejects a matrix result as an error; Gantry accepts it;
* ``string``: an Error measurement ("metric type not supported"), as in Argo.

``NaN``, ``+Inf`` and ``-Inf`` samples are kept as float NaN / infinities, as Argo does
(its conditions can test them with ``isNaN``/``isInf``). The query is recorded in the
metadata as ``ResolvedPrometheusQuery`` and Prometheus' warnings as ``warnings``.

Errors (returned as Error measurements): a missing address or query, a connection failure
or timeout, a non-2xx answer (a bad query is a 400 with Prometheus' error text), a body
that is not Prometheus' JSON.

Credentials: an ``Authorization`` header comes from the credential store by ``address``
(type ``prometheus`` where the store knows it, else ``http``); a username gives basic auth,
a token alone a bearer token. It is never read from the config and never returned.
A stored credential goes direct (no proxy) unless it sets ``proxy: true``, and with
``insecure: true`` the measurement is an Error unless it sets ``insecureSkipTLSVerify: true``.
``authentication`` (Argo's sigv4/oauth2) is not supported: it is ignored and noted in the
metadata.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from temporalio import activity

from activities import http_client
from activities.credentials import CredentialsError, redact_url
from activities.metrics.base import (
    MAX_MESSAGE,
    ConfigError,
    MeasureRequest,
    MeasureResult,
    error,
    key_value_headers,
    provider_config,
    seconds,
)
from pipeline.yamlsafe import json_loads

DEFAULT_TIMEOUT = 30.0
RESOLVED_QUERY = "ResolvedPrometheusQuery"


def sample_value(raw: Any) -> float:
    """A sample value as Prometheus encodes it (a string: "0.5", "NaN", "+Inf")."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    text = str(raw).strip()
    lowered = text.lower()
    if lowered == "nan":
        return math.nan
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    return float(text)


def parse_result(data: Any) -> tuple[Any, str]:
    """The measurement value for Prometheus' ``data`` object, with its result type.
    Raises ValueError for a shape it cannot read."""
    if not isinstance(data, dict):
        raise ValueError("response has no 'data' object")
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        if not isinstance(result, list) or len(result) != 2:
            raise ValueError("malformed scalar result")
        return sample_value(result[1]), kind
    if kind == "vector":
        if not isinstance(result, list):
            raise ValueError("malformed vector result")
        values = []
        for series in result:
            if not isinstance(series, dict):
                continue
            sample = series.get("value")
            if not isinstance(sample, list) or len(sample) != 2:
                raise ValueError("malformed vector sample")
            values.append(sample_value(sample[1]))
        return values, kind
    if kind == "matrix":
        if not isinstance(result, list):
            raise ValueError("malformed matrix result")
        values = []
        for series in result:
            samples = series.get("values") if isinstance(series, dict) else None
            if not samples:
                continue
            last = samples[-1]
            if not isinstance(last, list) or len(last) != 2:
                raise ValueError("malformed matrix sample")
            values.append(sample_value(last[1]))
        return values, kind
    raise ValueError(f"Prometheus metric type not supported: {kind!r}")


async def query(req: MeasureRequest) -> MeasureResult:
    """The measurement; never raises for a failure to measure."""
    try:
        cfg = provider_config(req, "prometheus")
        address = cfg.get("address")
        q = cfg.get("query")
        if not isinstance(address, str) or not address.strip():
            raise ConfigError("prometheus.address is required")
        if not isinstance(q, str) or not q.strip():
            raise ConfigError("prometheus.query is required")
        address = address.strip()
        url = httpx.URL(address)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"prometheus.address is not an http(s) URL: {redact_url(address)!r}")
        timeout = seconds(cfg.get("timeout"), "prometheus.timeout", DEFAULT_TIMEOUT)
        headers = dict(key_value_headers(cfg))
        insecure = bool(cfg.get("insecure", False))
    except (ConfigError, httpx.InvalidURL) as e:
        return error(f"invalid prometheus provider: {e}")

    metadata = {RESOLVED_QUERY: q}
    if cfg.get("authentication"):
        metadata["authentication"] = "ignored: credentials come from the credential store"
    creds = None
    if not any(k.lower() == "authorization" for k in headers):
        try:
            creds = http_client.find_stored(address, "prometheus", "http", verify=not insecure)
        except CredentialsError as e:
            return error(f"credential configuration: {e}", **metadata)
        headers.update(http_client.auth_header(creds))

    endpoint = address.rstrip("/") + "/api/v1/query"
    where = redact_url(address)
    try:
        async with http_client.client(timeout=timeout, verify=not insecure, creds=creds) as c:
            response = await http_client.heartbeating(
                c.get(endpoint, params={"query": q, "timeout": f"{timeout:g}s"}, headers=headers)
            )
    except httpx.TimeoutException:
        return error(f"prometheus at {where}: no answer within {timeout:g}s", **metadata)
    except httpx.HTTPError as e:
        return error(f"prometheus at {where}: {type(e).__name__}: {redact_url(str(e))}", **metadata)

    try:
        body = json_loads(response.content)
    except ValueError:
        body = None
    if not (200 <= response.status_code < 300):
        detail = ""
        if isinstance(body, dict) and body.get("error"):
            detail = f"{body.get('errorType', 'error')}: {body['error']}"
        else:
            detail = response.text[:500]
        return error(f"prometheus at {where} answered {response.status_code}: {detail}"[:MAX_MESSAGE], **metadata)
    if not isinstance(body, dict):
        return error(f"prometheus at {where}: the answer is not JSON", **metadata)
    if body.get("status") != "success":
        return error(f"prometheus at {where}: {body.get('errorType', 'error')}: {body.get('error', '')}", **metadata)
    warnings = body.get("warnings")
    if warnings:
        metadata["warnings"] = ", ".join(f'"{w}"' for w in warnings)
    try:
        value, kind = parse_result(body.get("data"))
    except (ValueError, TypeError) as e:
        return error(f"prometheus at {where}: {e}", **metadata)
    metadata["resultType"] = kind
    return MeasureResult(value=value, metadata=metadata)


@activity.defn(name="measure-prometheus")
async def measure_prometheus(req: MeasureRequest) -> MeasureResult:
    """Run the metric's instant query and return its value (no verdict)."""
    result = await query(req)
    if activity.in_activity():
        activity.logger.info("prometheus %s/%s #%d: %s", req.run, req.metric, req.index, result.phase or "measured")
    return result
