"""Image discovery rules that need no registry (pure: no I/O, no clock).

What Kargo's image selectors decide once the registry has answered:

* platforms: ``os/arch[/variant]`` constraints and which index entry satisfies one
  (entries whose os or architecture is empty or ``unknown``, e.g. attestations, never do);
* build times: the ``org.opencontainers.image.created`` (or legacy
  ``org.label-schema.build-date``) annotation wins; otherwise the config's ``created``,
  unless a creation label in the config is later;
* NewestBuild order: newest build first, ties by tag in reverse lexical order; images
  without a known build time come last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DiscoveredImage",
    "Platform",
    "build_time",
    "created_from",
    "known_platform_entries",
    "newest_builds",
    "parse_platform",
    "parse_rfc3339",
    "platform_entry",
    "rfc3339",
]

CREATED_KEYS = ("org.opencontainers.image.created", "org.label-schema.build-date")
_UNKNOWN = ("", "unknown", None)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    def matches(self, spec: Mapping[str, Any] | None) -> bool:
        """Whether an OCI platform object (``{os, architecture, variant}``) is this one."""
        spec = spec or {}
        return (spec.get("os"), spec.get("architecture"), spec.get("variant") or "") == (
            self.os,
            self.arch,
            self.variant,
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


def parse_platform(text: str) -> Platform:
    """``os/arch`` or ``os/arch/variant``; ValueError otherwise."""
    parts = text.split("/", 2)
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"invalid platform {text!r} (expected os/arch or os/arch/variant, e.g. linux/amd64)")
    return Platform(*parts)


def known_platform_entries(manifests: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Index entries that describe a real platform (not attestations or unknown ones)."""
    return [
        e
        for e in manifests
        if (e.get("platform") or {}).get("os") not in _UNKNOWN
        and (e.get("platform") or {}).get("architecture") not in _UNKNOWN
    ]


def platform_entry(manifests: Iterable[Mapping[str, Any]], platform: Platform) -> Mapping[str, Any] | None:
    """The first index entry for ``platform``, or None when the index lacks it."""
    return next((e for e in known_platform_entries(manifests) if platform.matches(e.get("platform"))), None)


def parse_rfc3339(text: Any) -> datetime | None:
    """An RFC 3339 timestamp with a zone (fractions of a second allowed); None otherwise."""
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def created_from(metadata: Mapping[str, Any] | None) -> datetime | None:
    """The creation time an annotation (or label) map states, if any."""
    for key in CREATED_KEYS:
        value = parse_rfc3339((metadata or {}).get(key))
        if value is not None:
            return value
    return None


def build_time(
    annotations: Mapping[str, Any] | None,
    labels: Mapping[str, Any] | None = None,
    config_created: Any = None,
) -> datetime | None:
    """When an image was built: the annotation, else the later of the config's
    ``created`` and its creation label (as Kargo decides)."""
    stated = created_from(annotations)
    if stated is not None:
        return stated
    times = [t for t in (parse_rfc3339(config_created), created_from(labels)) if t is not None]
    return max(times) if times else None


def rfc3339(value: datetime) -> str:
    """UTC, whole seconds, ``Z`` (how Kubernetes writes timestamps)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DiscoveredImage:
    tag: str
    digest: str
    created: datetime | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Kargo's DiscoveredImageReference: annotations and createdAt only when known."""
        out: dict[str, Any] = {"tag": self.tag, "digest": self.digest}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.created is not None:
            out["createdAt"] = rfc3339(self.created)
        return out


def newest_builds(images: Iterable[DiscoveredImage], limit: int) -> list[DiscoveredImage]:
    """NewestBuild order, at most ``limit``: newest build first, ties (and unknown
    build times, which come last) by tag in reverse lexical order."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    by_tag = sorted(images, key=lambda i: i.tag, reverse=True)
    by_time = sorted(by_tag, key=lambda i: (i.created is not None, i.created or _EPOCH), reverse=True)
    return by_time[:limit]
