"""`http-download`: GET a URL into a file of the working directory.

The body is streamed into a temporary file beside ``outPath`` and renamed into place
only when complete, so a crash never leaves half a file. Without ``allowOverwrite`` an
existing file fails the step, except a file this same step already downloaded from the
same URL (a retry after a lost completion), which counts as done.

Kargo's limits: 100 MiB at most; ``timeout`` defaults to 5 minutes. A non-2xx status is
retried (Temporal), as in Kargo. An ``Authorization`` header comes from the credential
store (type ``http``) by URL, unless the config sets its own; it goes direct (no proxy)
unless the credential sets ``proxy: true``, is refused with ``insecureSkipTLSVerify``
unless the credential sets that too, and is dropped on a redirect to another origin.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import credentials, http_client
from activities.credentials import redact_url
from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.http_download import HTTPDownloadConfig

MAX_DOWNLOAD = 100 << 20
DEFAULT_TIMEOUT = 300.0
def _prepare(base: Path, out_path: str, allow_overwrite: bool, alias: str, source: str) -> tuple[Path, bool]:
    """The absolute target, and whether this step already downloaded it."""
    target = resolve_path(base, out_path, "outPath")
    if target.is_dir():
        raise step_failed(f"config field 'outPath': {out_path!r} is a directory")
    if target.exists() and not allow_overwrite:
        if http_client.already_downloaded(base, target, alias, source):
            return target, True
        raise step_failed(f"config field 'outPath': file already exists at {out_path!r} and allowOverwrite is false")
    _safe_paths.make_dirs(base, target.parent, "outPath")
    return target, False


async def download(
    url: str,
    target: Path,
    *,
    headers: httpx.Headers,
    timeout: float,
    verify: bool,
    limit: int = MAX_DOWNLOAD,
    creds: credentials.Credentials | None = None,
) -> int:
    """Stream ``url`` into ``target`` atomically, heartbeating; return the size."""
    shown = redact_url(url)
    beat = http_client.Heartbeat()
    tmp = await asyncio.to_thread(http_client.AtomicFile, target)
    try:
        try:
            async with http_client.client(timeout=timeout, verify=verify, creds=creds, follow_redirects=True) as client:
                async with client.stream("GET", url, headers=headers) as resp:
                    if not 200 <= resp.status_code < 300:
                        raise ApplicationError(f"GET {shown} returned HTTP {resp.status_code}", type="HTTPStatus")
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise step_failed(f"download of {shown} exceeds the limit of {limit} bytes")
                    async for chunk in resp.aiter_bytes(64 * 1024):
                        if tmp.size + len(chunk) > limit:
                            raise step_failed(f"download of {shown} exceeds the limit of {limit} bytes")
                        await asyncio.to_thread(tmp.write, chunk)
                        beat.tick()
        except httpx.HTTPError as e:
            raise http_client.transport_error(f"GET {shown}", e) from None
        await asyncio.to_thread(tmp.commit)
        return tmp.size
    finally:
        await asyncio.to_thread(tmp.discard)


@activity.defn(name="http-download")
async def http_download(input: StepInput) -> StepResult:
    """Download ``url`` to ``outPath``."""
    config = typed_config(HTTPDownloadConfig, input)
    url = http_client.check_url(config.url)
    out_path, allow, verify = config.out_path, config.allow_overwrite, not config.insecure_skip_tls_verify
    headers = httpx.Headers(http_client.name_value_pairs(input.config, "headers"))
    params = http_client.name_value_pairs(input.config, "queryParams")
    timeout = http_client.get_timeout(input.config, DEFAULT_TIMEOUT)
    base = require_workdir(input.promotion)
    url = http_client.with_params(url, params)
    source = redact_url(url)
    target, done = await run_blocking(_prepare, base, out_path, allow, input.alias, source)
    if done:
        return StepResult(message=f"{out_path} was already downloaded from {source}")
    creds = None
    if "authorization" not in headers:
        creds = http_client.stored_credentials(url, "http", verify=verify)
        headers.update(http_client.auth_header(creds))
    size = await download(url, target, headers=headers, timeout=timeout, verify=verify, creds=creds)
    await run_blocking(http_client.record_download, base, target, input.alias, source)
    activity.logger.info("http-download: %s -> %s (%d bytes)", source, out_path, size)
    return StepResult(message=f"downloaded {size} bytes from {source} to {out_path}")
