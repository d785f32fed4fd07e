"""`oci-push`: copy or retag an OCI artifact (a container image, a multi-arch index, a Helm
chart) from ``srcRef`` to the tag ``destRef``, through the OCI Distribution API.

As in Kargo: an index is copied in full (every image it lists); credentials are looked up
for each side in the worker's credential store (type ``image``, ``helm`` for ``oci://``
references), never from the config; ``annotations`` are added to what the source already
has: ``index:``-prefixed keys on the index, ``manifest:``-prefixed and unprefixed keys on
each image manifest (``index:`` keys are ignored for a single image); the blobs of one push
may hold 1 GiB in all, a limit that does not apply to a retag within one repository, where
no blob moves. Outputs: ``image`` (the destination reference), ``digest`` (of what the tag
now points at) and ``tag``.

Without annotations the manifests are pushed byte for byte, so the destination keeps the
source's digest. Each blob is fetched into a scratch file outside the working directory,
checked against its digest, then uploaded unless the destination already has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import credentials, http_client, oci
from activities.steps._typed_config import typed_config
from activities.steps.base import StepInput, StepResult, step_failed
from contracts.step_configs.oci_push import OCIPushConfig
from pipeline.yamlsafe import json_loads

MAX_ARTIFACT = 1 << 30
MAX_MANIFEST = 4 << 20
TIMEOUT = 300.0
_CHUNK = 1 << 20


class _Copy:
    """One push: the source and destination registry sessions."""

    def __init__(self, src: oci.Registry, dst: oci.Registry, blobs_move: bool) -> None:
        self.src, self.dst, self.blobs_move = src, dst, blobs_move
        self.beat = http_client.Heartbeat()

    async def manifest(self, reference: str) -> tuple[bytes, str]:
        """The source manifest's exact bytes and its media type."""
        resp = await http_client.heartbeating(
            self.src.request("GET", f"{self.src.ref.base_url}/manifests/{reference}", headers={"Accept": oci.ACCEPT})
        )
        if resp.status_code == 404:
            raise oci.NotFound(f"{self.src.ref.registry}/{self.src.ref.repository}:{reference} not found")
        if resp.status_code == 403:
            raise oci.OCIError(f"access to {self.src.ref.registry}/{self.src.ref.repository} forbidden")
        if resp.status_code != 200:
            raise ApplicationError(f"GET manifest {reference} returned HTTP {resp.status_code}", type="OCIError")
        data = resp.content
        if len(data) > MAX_MANIFEST:
            raise oci.OCIError(f"manifest {reference} is larger than {MAX_MANIFEST} bytes")
        if reference.startswith("sha256:") and _digest(data) != reference:
            raise oci.OCIError(f"manifest digest mismatch: asked for {reference}, got {_digest(data)}")
        try:
            doc = json_loads(data)
        except ValueError:
            raise oci.OCIError(f"manifest {reference} is not JSON") from None
        media = doc.get("mediaType") or resp.headers.get("content-type", "").split(";")[0].strip()
        return data, media

    async def blob(self, descriptor: dict[str, Any]) -> None:
        """Copy one blob unless the destination has it already."""
        digest = str(descriptor.get("digest", ""))
        if not digest.startswith("sha256:"):
            raise oci.OCIError(f"blob digest {digest!r} is not sha256")
        base = self.dst.ref.base_url
        head = await http_client.heartbeating(self.dst.request("HEAD", f"{base}/blobs/{digest}"))
        if head.status_code == 200:
            return
        with tempfile.TemporaryFile() as scratch:
            await self._fetch(digest, scratch)
            size = await asyncio.to_thread(scratch.tell)
            start = await http_client.heartbeating(self.dst.request("POST", f"{base}/blobs/uploads/"))
            if start.status_code != 202 or "location" not in start.headers:
                raise _refused(start, f"starting an upload to {self.dst.ref.registry}/{self.dst.ref.repository}")
            location = str(start.url.join(start.headers["location"]))
            put_url = str(httpx.URL(location).copy_merge_params({"digest": digest}))
            done = await http_client.heartbeating(self.dst.request(
                "PUT", put_url, content=lambda: self._stream(scratch), headers={
                    "Content-Type": "application/octet-stream", "Content-Length": str(size)}))
            if done.status_code != 201:
                raise _refused(done, f"uploading blob {digest}")

    async def _fetch(self, digest: str, scratch: IO[bytes]) -> None:
        resp = await http_client.heartbeating(self.src.blob(digest))
        hasher, size = hashlib.sha256(), 0
        try:
            async for chunk in resp.aiter_bytes(_CHUNK):
                size += len(chunk)
                if size > MAX_ARTIFACT:
                    raise step_failed(f"config field 'srcRef': blob {digest} exceeds the limit of {MAX_ARTIFACT} bytes")
                hasher.update(chunk)
                await asyncio.to_thread(scratch.write, chunk)
                self.beat.tick()
        finally:
            await resp.aclose()
        if "sha256:" + hasher.hexdigest() != digest:
            raise ApplicationError(f"blob {digest} arrived corrupted (digest mismatch)", type="OCIError")

    async def _stream(self, scratch: IO[bytes]) -> AsyncIterator[bytes]:
        await asyncio.to_thread(scratch.seek, 0)
        while chunk := await asyncio.to_thread(scratch.read, _CHUNK):
            self.beat.tick()
            yield chunk

    async def put_manifest(self, reference: str, data: bytes, media: str) -> None:
        url = f"{self.dst.ref.base_url}/manifests/{reference}"
        resp = await http_client.heartbeating(self.dst.request("PUT", url, content=data, headers={"Content-Type": media}))
        if resp.status_code != 201:
            raise _refused(resp, f"pushing manifest {reference} to {self.dst.ref.registry}/{self.dst.ref.repository}")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _annotated(data: bytes, annotations: dict[str, str]) -> bytes:
    """The manifest with ``annotations`` added; the same bytes when there are none."""
    if not annotations:
        return data
    doc = json_loads(data)
    doc["annotations"] = {**(doc.get("annotations") or {}), **annotations}
    return json.dumps(doc, separators=(",", ":")).encode()


def _refused(resp: httpx.Response, what: str) -> Exception:
    message = f"{what}: HTTP {resp.status_code}"
    if resp.status_code in (400, 403, 404, 405, 413):
        return oci.OCIError(message + (f" ({oci._error_code(resp)})" if oci._error_code(resp) else ""))
    return ApplicationError(message, type="OCIError")


def scopes(annotations: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(index annotations, image manifest annotations), by Kargo's key prefixes."""
    index, manifest = {}, {}
    for key, value in annotations.items():
        if key.startswith("index:"):
            index[key[len("index:"):]] = value
        elif key.startswith("manifest:"):
            manifest[key[len("manifest:"):]] = value
        else:
            manifest[key] = value
    return index, manifest


async def push(copy: _Copy, src: oci.Reference, tag: str, annotations: dict[str, str]) -> str:
    """Copy ``src`` to ``tag`` of the destination; the digest the tag points at."""
    index_notes, manifest_notes = scopes(annotations)
    data, media = await copy.manifest(src.reference)
    doc = json_loads(data)
    is_index = media in oci.INDEX_TYPES or "manifests" in doc
    if is_index:
        entries = doc.get("manifests") or []
        images = [(entry, *await copy.manifest(str(entry.get("digest", "")))) for entry in entries]
    elif media in oci.MANIFEST_TYPES or "layers" in doc:
        images = [({}, data, media)]
    else:
        raise step_failed(f"config field 'srcRef': {src} has an unsupported media type {media!r}")
    blobs = [_blobs(src, image, entry.get("mediaType") or image_media) for entry, image, image_media in images]
    total = sum(int(b.get("size") or 0) for found in blobs for b in found)
    if copy.blobs_move and total > MAX_ARTIFACT:
        raise step_failed(f"config field 'srcRef': the artifact's blobs hold {total} bytes, more than the limit of "
                          f"{MAX_ARTIFACT} for a copy to another repository")
    children = []
    for (entry, image, image_media), found in zip(images, blobs):
        if copy.blobs_move:
            for descriptor in found:
                await copy.blob(descriptor)
        pushed = _annotated(image, manifest_notes)
        if is_index:
            media_type = entry.get("mediaType") or image_media
            await copy.put_manifest(_digest(pushed), pushed, media_type)
            children.append({**entry, "digest": _digest(pushed), "size": len(pushed)})
        else:
            data = pushed
    if is_index and (manifest_notes or index_notes):
        doc["manifests"] = children
        doc["annotations"] = {**(doc.get("annotations") or {}), **index_notes}
        data = json.dumps(doc, separators=(",", ":")).encode()
    await copy.put_manifest(tag, data, media)
    return _digest(data)


def _blobs(src: oci.Reference, data: bytes, media: str) -> list[dict[str, Any]]:
    """The config and layers of an image manifest."""
    doc = json_loads(data)
    if not isinstance(doc.get("layers"), list) or not isinstance(doc.get("config"), dict):
        raise step_failed(f"config field 'srcRef': {src} holds a manifest of an unsupported type {media!r}")
    return [doc["config"], *doc["layers"]]


def _session(ref: oci.Reference, verify: bool) -> tuple[credentials.Credentials | None, httpx.AsyncClient]:
    creds = oci.lookup_credentials(ref)
    try:
        credentials.check_tls(creds, ref.base_url, verify=verify)
    except credentials.CredentialsError as e:
        raise step_failed(f"credential configuration: {e}") from None
    return creds, http_client.client(timeout=TIMEOUT, verify=verify, creds=creds)


@activity.defn(name="oci-push")
async def oci_push(input: StepInput) -> StepResult:
    """Copy ``srcRef`` to ``destRef``; outputs ``image``, ``digest`` and ``tag``."""
    config = typed_config(OCIPushConfig, input)
    src = oci.parse_reference(config.src_ref, "srcRef")
    dst = oci.parse_reference(config.dest_ref, "destRef")
    if not dst.tag or dst.digest:
        raise step_failed(f"config field 'destRef': {config.dest_ref!r} must name a tag (registry/repository:tag)")
    verify = not config.insecure_skip_tls_verify
    same_repo = (src.registry, src.repository) == (dst.registry, dst.repository)
    try:
        async with contextlib.AsyncExitStack() as stack:
            sessions = []
            for ref in (src, dst):
                creds, client = _session(ref, verify)
                sessions.append(oci.Registry(ref, await stack.enter_async_context(client), creds))
            digest = await push(_Copy(*sessions, blobs_move=not same_repo), src, dst.tag, config.annotations or {})
    except oci.OCIError as e:
        raise step_failed(f"oci-push {src} -> {oci.Reference(dst.registry, dst.repository, dst.tag)}: {e}") from None
    except httpx.HTTPError as e:
        raise http_client.transport_error(f"pushing {src} to {dst}", e) from None
    image = str(oci.Reference(dst.registry, dst.repository, dst.tag))
    activity.logger.info("oci-push: %s -> %s (%s)", src, image, digest)
    return StepResult(outputs={"image": image, "digest": digest, "tag": dst.tag}, message=f"pushed {src} to {image} ({digest})")
