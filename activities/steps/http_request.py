"""`http`: send one HTTP request and judge the response with expressions.

One activity call sends exactly one request. The outcome follows Kargo:

* ``failureExpression`` true: terminal failure (``step_failed``), with the text of
  ``errorExpression`` when it yields a string.
* ``successExpression`` true: Succeeded, with ``outputs`` evaluated.
* neither expression set: a 2xx response succeeds; any other status raises a normal
  (retryable) error.
* anything else (an expression set but not true yet): ``StepResult(status="Running")``.
  The promotion workflow then waits ``pollInterval`` (default 30s, at least 1s) on a
  durable timer and calls the step again. The activity never sleeps.

Expressions see Kargo's environment: ``response.status`` (int), ``response.header(name)``
(first value, case-insensitive, "" when absent), ``response.headers`` (canonical name ->
list of values) and ``response.body`` (JSON or YAML parsed by content type, plain text
for ``text/plain``, else parsed as JSON when it is JSON; ``{}`` when empty).

Credentials: an ``Authorization`` header comes from the credential store (type ``http``)
by URL, unless the config sets its own ``Authorization`` header. A request carrying a
stored credential ignores the step's ``proxy`` (and the worker's proxy variables) and
goes direct unless the credential sets ``proxy: true``; with ``insecureSkipTLSVerify``
it fails unless the credential sets ``insecureSkipTLSVerify: true`` too
(``activities.http_client``). A redirect to another origin drops the header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import http_client
from activities.credentials import redact_url
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.http_request import HTTPConfig

#: Largest response body (and bodyFromFile) read, as in Kargo.
MAX_BODY = 2 << 20
DEFAULT_TIMEOUT = 10.0
DEFAULT_POLL_INTERVAL = 30.0
MIN_POLL_INTERVAL = 1.0  # the engine (pipeline/step_policies.py) allows 1s; Kargo floors at 10s

_YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")


def poll_interval(config: dict[str, Any]) -> float:
    """Seconds the workflow should wait before calling the step again while it is Running:
    ``pollInterval`` (default 30s), never less than 1s (Kargo floors at 10s)."""
    return max(http_client.get_timeout(config, DEFAULT_POLL_INTERVAL, "pollInterval"), MIN_POLL_INTERVAL)


def canonical_header(name: str) -> str:
    """Go's canonical MIME header form: ``content-type`` -> ``Content-Type``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return {}
    ct = content_type.lower()
    if ct in _YAML_TYPES:
        from ruamel.yaml import YAMLError

        from pipeline import yamlsafe

        try:
            return yamlsafe.load(raw.decode("utf-8", "replace"))
        except YAMLError as e:
            raise ApplicationError(f"failed to parse YAML response: {e}", type="HTTPResponse") from None
    if ct == "text/plain":
        return raw.decode("utf-8", "replace")
    from pipeline.yamlsafe import JSONLimitError, json_loads

    try:
        return json_loads(raw)
    except JSONLimitError as e:
        raise ApplicationError(f"failed to parse JSON response: {e}", type="HTTPResponse") from None
    except ValueError:
        if ct == "application/json":
            raise ApplicationError("failed to parse JSON response", type="HTTPResponse") from None
        return {}  # an unknown type that is not JSON: the body is ignored, as in Kargo


def response_env(response: httpx.Response, raw: bytes, content_type_override: str = "") -> dict[str, Any]:
    """The expression environment for one response."""
    from pipeline.expressions import Function

    headers: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        headers.setdefault(canonical_header(name), []).append(value)

    def header(name: Any) -> str:
        values = headers.get(canonical_header(str(name)))
        return values[0] if values else ""

    content_type = content_type_override or response.headers.get("content-type", "").split(";")[0].strip()
    return {
        "response": {
            "status": response.status_code,
            "header": Function(header, name="header"),
            "headers": headers,
            "body": _parse_body(raw, content_type),
        }
    }


def _check_syntax(text: str, field: str) -> None:
    """A malformed expression is a terminal failure; evaluation errors stay retryable."""
    try:
        from pipeline.expressions.parser import parse
    except ImportError:  # pragma: no cover - the parser module is part of the evaluator
        return
    from pipeline.expressions import ExpressionError

    try:
        parse(text)
    except ExpressionError as e:
        raise step_failed(f"config field {field!r}: {e}") from None


def _evaluate(text: str, env: dict[str, Any], field: str) -> Any:
    from pipeline.expressions import ExpressionError, evaluate

    try:
        return evaluate(text, env)
    except ExpressionError as e:
        raise ApplicationError(f"config field {field!r}: error evaluating: {e}", type="ExpressionError") from None


def _criterion(config: dict[str, Any], field: str, env: dict[str, Any]) -> bool | None:
    text = config.get(field)
    if not text:
        return None
    value = _evaluate(text, env, field)
    if not isinstance(value, bool):
        raise ApplicationError(
            f"config field {field!r} did not evaluate to a boolean (got {type(value).__name__})",
            type="ExpressionError",
        )
    return value


def _plain(value: Any, where: str) -> Any:
    """Outputs must be JSON data (they travel in workflow history)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    raise step_failed(f"config field {where!r}: the expression gave a {type(value).__name__}, not JSON data")


def _outputs(specs: list[Any], env: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        out[spec["name"]] = _plain(_evaluate(spec["fromExpression"], env, f"outputs[{i}].fromExpression"), f"outputs[{i}]")
    return out


def _validate(typed: HTTPConfig, config: dict[str, Any]) -> dict[str, Any]:
    """Check every field before anything is sent (the model has typed them); return the
    normalised request parts."""
    for field in ("successExpression", "failureExpression", "errorExpression"):
        text = config.get(field)
        if text:
            _check_syntax(text, field)
    for i, spec in enumerate(typed.outputs or []):
        _check_syntax(spec.from_expression, f"outputs[{i}].fromExpression")
    poll_interval(config)  # a bad pollInterval fails now, not when the workflow reads it
    return {
        "url": http_client.check_url(typed.url),
        "method": typed.method or "GET",
        "headers": http_client.name_value_pairs(config, "headers"),
        "params": http_client.name_value_pairs(config, "queryParams"),
        "body": typed.body or "",
        "body_file": typed.body_from_file or "",
        "proxy": typed.proxy or None,
        "timeout": http_client.get_timeout(config, DEFAULT_TIMEOUT),
        "verify": not typed.insecure_skip_tls_verify,
        "content_type": typed.response_content_type or "",
        "outputs": [spec.model_dump(by_alias=True) for spec in typed.outputs or []],
    }


def _read_body_file(base: Path, path: str) -> bytes:
    target = resolve_path(base, path, "bodyFromFile")
    if not target.is_file():
        raise step_failed(f"config field 'bodyFromFile': file {path!r} does not exist")
    data = target.read_bytes()
    if len(data) > MAX_BODY:
        raise step_failed(f"config field 'bodyFromFile': {path!r} is larger than {MAX_BODY} bytes")
    return data


async def _send(req: dict[str, Any], content: bytes) -> tuple[httpx.Response, bytes]:
    headers = httpx.Headers(req["headers"])
    url = http_client.with_params(req["url"], req["params"])
    creds = None
    if "authorization" not in headers:
        creds = http_client.stored_credentials(url, "http", verify=req["verify"])
        headers.update(http_client.auth_header(creds))
    if creds is not None and req["proxy"] and not http_client.proxy_allowed(creds):
        activity.logger.info("http: not using the configured proxy: %s does not allow proxies (proxy: true)", creds.source)
    async with http_client.client(
        timeout=req["timeout"], verify=req["verify"], proxy=req["proxy"], creds=creds, follow_redirects=True
    ) as client:
        async with client.stream(req["method"], url, headers=headers, content=content) as resp:
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY:
                raise ApplicationError(f"response body size {declared} exceeds limit of {MAX_BODY} bytes", type="HTTPResponse")
            raw = bytearray()
            async for chunk in resp.aiter_bytes():
                raw += chunk
                if len(raw) > MAX_BODY:
                    raise ApplicationError(f"response body exceeds limit of {MAX_BODY} bytes", type="HTTPResponse")
            return resp, bytes(raw)


@activity.defn(name="http")
async def http_request(input: StepInput) -> StepResult:
    """Send one request; Succeeded, Running (poll again later) or a terminal failure."""
    config = input.config
    req = _validate(typed_config(HTTPConfig, input), config)
    content = req["body"].encode()
    if req["body_file"]:
        content = await run_blocking(_read_body_file, require_workdir(input.promotion), req["body_file"])
    shown = redact_url(req["url"])
    try:
        response, raw = await http_client.heartbeating(_send(req, content))
    except httpx.HTTPError as e:
        raise http_client.transport_error(f"{req['method']} {shown}", e) from None
    env = response_env(response, raw, req["content_type"])
    status = response.status_code
    success = _criterion(config, "successExpression", env)
    failure = _criterion(config, "failureExpression", env)
    activity.logger.info("http: %s %s -> %d", req["method"], shown, status)
    if failure:
        message = f"HTTP ({status}) response met failure criteria"
        if config.get("errorExpression"):
            try:
                extracted = _evaluate(config["errorExpression"], env, "errorExpression")
            except ApplicationError:
                extracted = None  # best effort, as in Kargo
            if isinstance(extracted, str) and extracted:
                message += f": {extracted!r}"
        raise step_failed(message)
    if success:
        return StepResult(outputs=_outputs(req["outputs"], env), message=f"HTTP ({status}) response met success criteria")
    if success is None and failure is None:
        if 200 <= status < 300:
            return StepResult(outputs=_outputs(req["outputs"], env), message=f"HTTP ({status})")
        raise ApplicationError(f"{req['method']} {shown} returned HTTP {status}", type="HTTPStatus")
    return StepResult(
        status="Running",
        message=f"HTTP ({status}) response met neither success nor failure criteria yet; "
        f"polling again in {poll_interval(config):g}s",
    )
