"""`oci-download`: save one layer of an OCI artifact (a Helm chart, a tarball of
manifests...) to a file of the working directory.

The artifact is pulled with the OCI Distribution API (``activities.oci``). The layer is
the first one, or the first whose ``mediaType`` matches. Its content is streamed to a
temporary file, checked against the layer digest, and renamed into place.

As in Kargo: at most 100 MiB; ``allowOverwrite`` false refuses an existing file (except
one this same step already downloaded from the same reference); an index (multi-platform
image) resolves to its linux/amd64 manifest, else the first.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import credentials, http_client, oci
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed
from activities.steps.http_download import _prepare
from contracts.step_configs.oci_download import OCIDownloadConfig

MAX_ARTIFACT = 100 << 20
TIMEOUT = 300.0
def _pick_layer(manifest: dict[str, Any], media_type: str, ref: oci.Reference) -> dict[str, Any]:
    layers = manifest.get("layers") or []
    if not layers:
        raise step_failed(f"config field 'imageRef': {ref} has no layers")
    if not media_type:
        return layers[0]
    for layer in layers:
        if layer.get("mediaType") == media_type:
            return layer
    found = ", ".join(sorted({str(layer.get("mediaType")) for layer in layers}))
    raise step_failed(f"config field 'mediaType': no layer of {ref} has media type {media_type!r} (found: {found})")


@activity.defn(name="oci-download")
async def oci_download(input: StepInput) -> StepResult:
    """Pull the chosen layer of ``imageRef`` into ``outPath``."""
    config = typed_config(OCIDownloadConfig, input)
    ref = oci.parse_reference(config.image_ref)
    out_path, allow, media_type = config.out_path, config.allow_overwrite, config.media_type or ""
    verify = not config.insecure_skip_tls_verify
    base = require_workdir(input.promotion)
    source = str(ref) + (f" ({media_type})" if media_type else "")
    target, done = await run_blocking(_prepare, base, out_path, allow, input.alias, source)
    if done:
        return StepResult(message=f"{out_path} was already downloaded from {source}")

    creds = oci.lookup_credentials(ref)
    try:
        credentials.check_tls(creds, ref.base_url, verify=verify)
    except credentials.CredentialsError as e:
        raise step_failed(f"credential configuration: {e}") from None
    beat = http_client.Heartbeat()
    try:
        # the same client rules as every credentialed request: no proxy unless the
        # credential allows it; Registry itself keeps Authorization on its own origin
        async with http_client.client(timeout=TIMEOUT, verify=verify, creds=creds) as client:
            reg = oci.Registry(ref, client, creds)
            manifest = await http_client.heartbeating(reg.image_manifest(ref.reference))
            layer = _pick_layer(manifest, media_type, ref)
            digest, size = str(layer.get("digest", "")), layer.get("size")
            if not digest.startswith("sha256:"):
                raise step_failed(f"config field 'imageRef': layer digest {digest!r} of {ref} is not sha256")
            if isinstance(size, int) and size > MAX_ARTIFACT:
                raise step_failed(f"config field 'imageRef': layer size {size} exceeds the limit of {MAX_ARTIFACT} bytes")
            tmp = await asyncio.to_thread(http_client.AtomicFile, target)
            try:
                resp = await http_client.heartbeating(reg.blob(digest))
                hasher = hashlib.sha256()
                try:
                    async for chunk in resp.aiter_bytes(64 * 1024):
                        if tmp.size + len(chunk) > MAX_ARTIFACT:
                            raise step_failed(f"config field 'imageRef': layer exceeds the limit of {MAX_ARTIFACT} bytes")
                        hasher.update(chunk)
                        await asyncio.to_thread(tmp.write, chunk)
                        beat.tick()
                finally:
                    await resp.aclose()
                if "sha256:" + hasher.hexdigest() != digest:
                    raise ApplicationError(f"layer {digest} of {ref} arrived corrupted (digest mismatch)", type="OCIError")
                await asyncio.to_thread(tmp.commit)
            finally:
                await asyncio.to_thread(tmp.discard)
    except oci.OCIError as e:
        raise step_failed(f"config field 'imageRef': {e}") from None
    except httpx.HTTPError as e:
        raise http_client.transport_error(f"pulling {ref}", e) from None
    await run_blocking(http_client.record_download, base, target, input.alias, source)
    activity.logger.info("oci-download: %s -> %s (%d bytes)", source, out_path, tmp.size)
    return StepResult(message=f"downloaded layer {digest} ({tmp.size} bytes) of {ref} to {out_path}")
