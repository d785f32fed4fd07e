"""discover_images: the newest images of a Warehouse's image subscription.

One pass lists the repository's tags (paginated), chooses candidates by the selection
strategy and reads only what that strategy needs:

* SemVer / Lexical: tags are chosen and ordered first (``pipeline.discovery.selection``),
  then the manifests of the first ``discoveryLimit`` of them are read (one manifest GET
  and, for an image config, one config blob GET each, concurrently).
* NewestBuild: every tag the allow/ignore regexes keep is read (bounded concurrency) for
  its build time, then ordered newest first.
* Digest: ``constraint`` names a mutable tag; its current digest is the one reference.

``platform`` keeps only tags that have that platform: an index's matching entry, or a
single image whose config states it. The digest reported is the tag's own (an index's
digest for multi-platform images, as Kargo reports it). Build times follow Kargo's
precedence (``pipeline.discovery.images.build_time``); an index without a platform
constraint gets one only from annotations, except under NewestBuild, which reads its
platforms' configs.

Failures: a bad subscription, an unknown repository or denied access is a non-retryable
``DiscoveryError``; connection failures and 5xx/429 answers a retryable
``DiscoveryUnavailable``. Messages name the repository and never hold credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import credentials, http_client
from activities.credentials import CredentialsError, redact_url
from activities.discovery.errors import (
    DISCOVERY_ERROR,
    UNAVAILABLE,
    discovery_error,
    unavailable,
    validated,
)
from activities.oci import (
    INDEX_TYPES,
    NotFound,
    OCIError,
    Reference,
    Registry,
    find_credentials,
    parse_repository,
)
from pipeline.discovery.images import (
    DiscoveredImage,
    Platform,
    build_time,
    created_from,
    known_platform_entries,
    newest_builds,
    parse_platform,
    platform_entry,
)
from pipeline.discovery.selection import (
    deprecated_tag_filters,
    filter_tags,
    select_image_tags,
)
from pipeline.manifests.models import ImageSubscription
from workflows.messages import DiscoveryRequest

__all__ = ["discover_images", "discovery_errors"]

#: seconds for any one HTTP operation
TIMEOUT = 30.0
#: tags whose manifests are read at the same time
CONCURRENCY = 16
IMAGE_CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def discovery_errors(what: str) -> Iterator[None]:
    """Turn registry and HTTP failures into the two discovery error types, naming ``what``."""
    try:
        yield
    except ApplicationError as e:
        if e.type in (DISCOVERY_ERROR, UNAVAILABLE):
            raise
        raise (discovery_error if e.non_retryable else unavailable)(f"{what}: {e.message}") from None
    except OCIError as e:
        raise discovery_error(f"{what}: {e}") from None
    except CredentialsError as e:
        raise discovery_error(f"{what}: credential configuration: {e}") from None
    except httpx.HTTPError as e:
        raise unavailable(f"{what}: {type(e).__name__}: {redact_url(str(e)) or 'no answer'}") from None


async def bounded_map(fn: Callable[[T], Awaitable[R]], items: list[T], limit: int = CONCURRENCY) -> list[R]:
    """``fn`` over ``items``, at most ``limit`` at a time, results in order; the first
    failure cancels the rest."""
    sem = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with sem:
            return await fn(item)

    tasks = [asyncio.ensure_future(one(i)) for i in items]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the subscription ---------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A validated subscription: where to look and how to choose."""

    sub: ImageSubscription
    ref: Reference
    platform: Platform | None
    allow: list[str]
    ignore: list[str]

    @property
    def strategy(self) -> str:
        return self.sub.image_selection_strategy

    def ordered(self, tags: list[str]) -> list[str]:
        """SemVer/Lexical order of every eligible tag (the limit is applied later,
        after tags without the platform are skipped)."""
        return select_image_tags(
            tags,
            strategy=self.strategy,  # type: ignore[arg-type]
            constraint=self.sub.constraint if self.strategy == "SemVer" else None,
            strict_semvers=self.sub.strict_semvers,
            allow_regexes=self.allow,
            ignore_regexes=self.ignore,
            limit=max(1, len(tags)),
        )


def plan(subscription: dict[str, Any]) -> Plan:
    """Validate everything before the first request, so configuration errors never
    wait on the network."""
    sub = validated(ImageSubscription, subscription, "image")
    repo = redact_url(sub.repo_url)
    try:
        ref = parse_repository(sub.repo_url)
        platform = parse_platform(sub.platform) if sub.platform else None
        old_allow, old_ignore = deprecated_tag_filters(sub.allow_tags, sub.ignore_tags)
        p = Plan(sub, ref, platform, sub.allow_tags_regexes + old_allow, sub.ignore_tags_regexes + old_ignore)
        if p.strategy == "Digest" and not sub.constraint:
            raise ValueError("the Digest strategy needs constraint: the tag to follow")
        if p.strategy in ("SemVer", "Lexical"):
            p.ordered([])
        else:
            filter_tags([], allow_regexes=p.allow, ignore_regexes=p.ignore)
    except ValueError as e:
        raise discovery_error(f"image subscription {repo}: {e}") from None
    return p


# --- reading images -----------------------------------------------------------------------


def _platform_of(config: dict[str, Any]) -> dict[str, Any]:
    return {"os": config.get("os"), "architecture": config.get("architecture"), "variant": config.get("variant")}


async def _from_manifest(
    reg: Registry, tag: str, doc: dict[str, Any], digest: str, platform: Platform | None
) -> DiscoveredImage | None:
    """A single image: annotations from its manifest, build time and platform from its
    config (read only when needed and when it is an image config)."""
    annotations = doc.get("annotations") or {}
    config: dict[str, Any] = {}
    descriptor = doc.get("config") or {}
    wants_config = platform is not None or created_from(annotations) is None
    if wants_config and descriptor.get("mediaType") in IMAGE_CONFIG_TYPES and descriptor.get("digest"):
        config = await reg.config(descriptor)
    if platform is not None and not platform.matches(_platform_of(config)):
        return None
    labels = (config.get("config") or {}).get("Labels")
    return DiscoveredImage(tag, digest, build_time(annotations, labels, config.get("created")), annotations)


async def _entry_build_time(reg: Registry, entry: dict[str, Any]) -> datetime | None:
    """An index entry's build time: its descriptor's annotations, else its image's."""
    stated = created_from(entry.get("annotations"))
    if stated is not None:
        return stated
    doc, _, digest = await reg.manifest(entry["digest"])
    image = await _from_manifest(reg, "", doc, digest, None)
    return image.created if image else None


async def _from_index(
    reg: Registry, tag: str, doc: dict[str, Any], digest: str, platform: Platform | None, need_created: bool
) -> DiscoveredImage | None:
    """A multi-platform image: skipped when it lacks ``platform``; annotations are the
    index's, overlaid with the platform entry's."""
    entries = doc.get("manifests") or []
    annotations = dict(doc.get("annotations") or {})
    created = created_from(annotations)
    if platform is not None:
        entry = platform_entry(entries, platform)
        if entry is None:
            return None
        annotations.update(entry.get("annotations") or {})
        if created is None:
            created = await _entry_build_time(reg, dict(entry))
        return DiscoveredImage(tag, digest, created, annotations)
    if created is None:
        known = [dict(e) for e in known_platform_entries(entries)]
        if need_created:
            times = [await _entry_build_time(reg, e) for e in known]
        else:
            times = [created_from(e.get("annotations")) for e in known]
        created = max((t for t in times if t is not None), default=None)
    return DiscoveredImage(tag, digest, created, annotations)


async def read_image(
    reg: Registry, tag: str, platform: Platform | None, need_created: bool = False, missing_ok: bool = True
) -> DiscoveredImage | None:
    """The image a tag names now; None when it lacks the platform or (``missing_ok``)
    has vanished since the tag list was read (an unknown repository is still an error)."""
    try:
        doc, media, digest = await reg.manifest(tag)
    except NotFound as e:
        if e.code == "NAME_UNKNOWN" or not missing_ok:
            raise
        return None
    if media in INDEX_TYPES or "manifests" in doc:
        return await _from_index(reg, tag, doc, digest, platform, need_created)
    return await _from_manifest(reg, tag, doc, digest, platform)


# --- strategies ---------------------------------------------------------------------------


async def _first_images(reg: Registry, p: Plan, ordered: list[str], beat: http_client.Heartbeat) -> list[DiscoveredImage]:
    """The first ``discoveryLimit`` tags in order that have the platform, read one
    window of ``discoveryLimit`` tags at a time."""
    limit = p.sub.discovery_limit
    found: list[DiscoveredImage] = []
    start = 0
    while len(found) < limit and start < len(ordered):
        window = ordered[start : start + limit]
        start += limit
        for image in await bounded_map(lambda t: read_image(reg, t, p.platform), window):
            if image is not None and len(found) < limit:
                found.append(image)
        beat.tick({"read": start})
    return found


async def _newest_builds(reg: Registry, p: Plan, tags: list[str], beat: http_client.Heartbeat) -> list[DiscoveredImage]:
    candidates = filter_tags(tags, allow_regexes=p.allow, ignore_regexes=p.ignore)

    async def read(tag: str) -> DiscoveredImage | None:
        image = await read_image(reg, tag, p.platform, need_created=True)
        beat.tick()
        return image

    images = await bounded_map(read, candidates)
    return newest_builds([i for i in images if i is not None], p.sub.discovery_limit)


async def _current_digest(reg: Registry, p: Plan) -> list[DiscoveredImage]:
    """Digest: the followed tag's image, or none while the tag does not exist; an
    unknown repository is an error (registries answer MANIFEST_UNKNOWN for both, so a
    one-tag listing tells them apart)."""
    try:
        image = await read_image(reg, str(p.sub.constraint), p.platform, missing_ok=False)
    except NotFound:
        await reg.tags(page_size=1, max_pages=1)
        return []
    return [image] if image is not None else []


async def select_images(reg: Registry, p: Plan) -> list[DiscoveredImage]:
    """The references the subscription's strategy picks, best first."""
    if p.strategy == "Digest":
        return await _current_digest(reg, p)
    beat = http_client.Heartbeat()
    tags = await reg.tags(on_page=lambda n: beat.tick({"tags": n}))
    if p.strategy == "NewestBuild":
        return await _newest_builds(reg, p, tags, beat)
    return await _first_images(reg, p, p.ordered(tags), beat)


@activity.defn(name="discover_images")
async def discover_images(request: DiscoveryRequest) -> dict:
    """Kargo's DiscoveredArtifacts image entry for one subscription."""
    p = plan(request.subscription)
    with discovery_errors(f"image repository {p.sub.repo_url}"):
        creds = find_credentials(p.ref)
        verify = not p.sub.insecure_skip_tls_verify
        credentials.check_tls(creds, p.ref.base_url, verify=verify)
        async with http_client.client(timeout=TIMEOUT, verify=verify, creds=creds) as client:
            # heartbeats every 2 s whatever the registry does, so a worker lost mid-way is
            # seen within the Warehouse's 10 s heartbeat timeout (its HTTP timeout bounds a hang)
            images = await http_client.heartbeating(select_images(Registry(p.ref, client, creds), p))
    out: dict[str, Any] = {"repoURL": p.sub.repo_url}
    if p.sub.platform:
        out["platform"] = p.sub.platform
    out["references"] = [i.to_dict() for i in images]
    return out
