"""``measure-web``: one HTTP request; the value is picked from the JSON answer.

Config (Argo Rollouts' ``provider.web``): ``url`` (required), ``method`` (default GET),
``headers`` (``[{key, value}]``), ``body`` (a string) or ``jsonBody`` (any JSON value, sent
with ``Content-Type: application/json``), ``timeoutSeconds`` (default 10), ``jsonPath``,
``insecure`` (skip TLS verification).

The value: with ``jsonPath``, what it selects in the JSON body (typed: a number stays a
number, an object a dict); without, the whole parsed JSON body, or the body as text when
it is not JSON. ``jsonPath`` is the common subset of kubectl's JSONPath that Argo
templates use, inside braces: ``{$}``, ``{$.a.b}``, ``{.a.b}``, ``{$.a[0].b}``,
``{$.a[-1]}``, ``{$['a-b']}``, and the wildcards ``{$.*}`` / ``{$.a[*].b}`` (which give a
list). Filters, slices and recursive descent are not supported (an Error measurement).

Errors (returned as Error measurements): a connection failure or timeout, a non-2xx
status ("received non 2xx response code"), a body that is not JSON when ``jsonPath`` is
set, a path that selects nothing.

Credentials: an ``Authorization`` header comes from the credential store (type ``http``)
by URL, unless the config sets its own ``Authorization`` header.
A stored credential goes direct (no proxy) unless it sets ``proxy: true``, and with
``insecure: true`` the measurement is an Error unless it sets ``insecureSkipTLSVerify: true``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from temporalio import activity

from activities import http_client
from activities.credentials import CredentialsError, redact_url
from activities.metrics.base import (
    ConfigError,
    MeasureRequest,
    MeasureResult,
    error,
    key_value_headers,
    provider_config,
    seconds,
)
from pipeline.yamlsafe import json_loads

DEFAULT_TIMEOUT = 10.0
MAX_BODY = 10 << 20
_WILD = object()

_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z_][\w-]*)        # .name
      | \.(?P<star>\*)                       # .*
      | \[\s*(?P<index>-?\d+)\s*\]           # [0]
      | \[\s*(?P<wild>\*)\s*\]               # [*]
      | \[\s*'(?P<sq>[^']*)'\s*\]            # ['key']
      | \[\s*"(?P<dq>[^"]*)"\s*\]            # ["key"]
    """,
    re.VERBOSE,
)


class PathError(Exception):
    pass


def parse_path(expr: str) -> list[Any]:
    """The steps of a JSONPath in the supported subset: str keys, int indexes, or _WILD."""
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Any] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise PathError(f"unsupported JSONPath {expr!r} at {text[pos:]!r}")
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        elif m.group("sq") is not None:
            steps.append(m.group("sq"))
        elif m.group("dq") is not None:
            steps.append(m.group("dq"))
        else:
            steps.append(_WILD)
        pos = m.end()
    return steps


def select(data: Any, steps: list[Any], expr: str) -> Any:
    """Apply ``steps`` to ``data``: one value, or a list when a wildcard is used."""
    current = [data]
    wildcard = False
    for step in steps:
        nxt: list[Any] = []
        for item in current:
            if step is _WILD:
                wildcard = True
                if isinstance(item, dict):
                    nxt.extend(item.values())
                elif isinstance(item, list):
                    nxt.extend(item)
            elif isinstance(step, int):
                if isinstance(item, list) and -len(item) <= step < len(item):
                    nxt.append(item[step])
                elif not wildcard:
                    raise PathError(f"{expr}: index {step} out of range")
            else:
                if isinstance(item, dict) and step in item:
                    nxt.append(item[step])
                elif not wildcard:
                    raise PathError(f"{expr}: {step} is not found")
        current = nxt
    if wildcard:
        return current
    return current[0]


async def fetch(req: MeasureRequest) -> MeasureResult:
    try:
        cfg = provider_config(req, "web")
        url = cfg.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError("web.url is required")
        url = url.strip()
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"web.url is not an http(s) URL: {redact_url(url)!r}")
        method = str(cfg.get("method") or "GET").upper()
        if method not in http_client.METHODS:
            raise ConfigError(f"web.method {method!r} is not one of {', '.join(http_client.METHODS)}")
        timeout = seconds(cfg.get("timeoutSeconds"), "web.timeoutSeconds", DEFAULT_TIMEOUT)
        headers = dict(key_value_headers(cfg))
        content: bytes | None = None
        if cfg.get("jsonBody") is not None:
            if cfg.get("body"):
                raise ConfigError("set only one of web.body and web.jsonBody")
            content = json.dumps(cfg["jsonBody"]).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        elif cfg.get("body") not in (None, ""):
            content = str(cfg["body"]).encode()
        json_path = cfg.get("jsonPath")
        steps = parse_path(str(json_path)) if json_path not in (None, "") else None
        insecure = bool(cfg.get("insecure", False))
    except (ConfigError, PathError, httpx.InvalidURL) as e:
        return error(f"invalid web provider: {e}")

    where = redact_url(url)
    metadata = {"url": where, "method": method}
    creds = None
    if not any(k.lower() == "authorization" for k in headers):
        try:
            creds = http_client.find_stored(url, "http", verify=not insecure)
        except CredentialsError as e:
            return error(f"credential configuration: {e}", **metadata)
        headers.update(http_client.auth_header(creds))

    try:
        async with http_client.client(timeout=timeout, verify=not insecure, creds=creds) as c:
            response = await http_client.heartbeating(c.request(method, url, headers=headers, content=content))
    except httpx.TimeoutException:
        return error(f"{method} {where}: no answer within {timeout:g}s", **metadata)
    except httpx.HTTPError as e:
        return error(f"{method} {where}: {type(e).__name__}: {redact_url(str(e))}", **metadata)

    metadata["status"] = str(response.status_code)
    if not (200 <= response.status_code < 300):
        snippet = response.text[:300].strip()
        return error(
            f"received non 2xx response code: {response.status_code}" + (f": {snippet}" if snippet else ""), **metadata
        )
    raw = response.content[:MAX_BODY]
    try:
        data = json_loads(raw) if raw.strip() else None
        is_json = raw.strip() != b""
    except ValueError:
        data, is_json = None, False
    if steps is None:
        value = data if is_json else raw.decode("utf-8", "replace")
        return MeasureResult(value=value, metadata=metadata)
    if not is_json:
        return error(f"could not parse JSON body of {where}", **metadata)
    try:
        value = select(data, steps, str(json_path))
    except PathError as e:
        return error(f"could not find JSONPath in body: {e}", **metadata)
    return MeasureResult(value=value, metadata=metadata)


@activity.defn(name="measure-web")
async def measure_web(req: MeasureRequest) -> MeasureResult:
    """Send the metric's request and return the selected value (no verdict)."""
    result = await fetch(req)
    if activity.in_activity():
        activity.logger.info("web %s/%s #%d: %s", req.run, req.metric, req.index, result.phase or "measured")
    return result
