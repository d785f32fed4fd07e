"""Which Freight and which Promotions garbage collection removes: Kargo's rule (its
`pkg/garbage`), as pure functions.

Per Warehouse, Freight sorted newest first (by `discoveredAt`): the oldest Freight still in
use marks a line; the `max_retained_freight` Freight after that line are kept too, and of
the ones after those, each older than `min_freight_deletion_age` goes. Freight in use is
never among them: it is current in a Stage, in a Stage's history window, or the Freight of a
running promotion. Promotions go the same way per Stage, the line being the oldest one that
has not ended (`max_retained_promotions`, `min_promotion_deletion_age`).

With the defaults (20 and 14 days) a burst of thousands of new Freight is all kept: only
age makes anything go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.durations import parse_duration, parse_time

DEFAULT_MAX_RETAINED = 20
DEFAULT_MIN_AGE = timedelta(hours=336)


@dataclass(frozen=True)
class GarbageSettings:
    max_retained_freight: int = DEFAULT_MAX_RETAINED
    min_freight_deletion_age: timedelta = DEFAULT_MIN_AGE
    max_retained_promotions: int = DEFAULT_MAX_RETAINED
    min_promotion_deletion_age: timedelta = DEFAULT_MIN_AGE

    def overridden(self, spec: dict[str, Any] | None) -> GarbageSettings:
        """These settings with a project's `garbageCollection` (ProjectConfig) on top."""
        spec = spec or {}
        return GarbageSettings(
            max_retained_freight=int(spec.get("maxRetainedFreight", self.max_retained_freight)),
            min_freight_deletion_age=_age(spec.get("minFreightDeletionAge"), self.min_freight_deletion_age),
            max_retained_promotions=int(spec.get("maxRetainedPromotions", self.max_retained_promotions)),
            min_promotion_deletion_age=_age(spec.get("minPromotionDeletionAge"), self.min_promotion_deletion_age),
        )


def _age(text: Any, default: timedelta) -> timedelta:
    return parse_duration(str(text)) if text not in (None, "") else default


def freight_to_collect(
    freight: list[dict[str, Any]], in_use: set[str], now: datetime, settings: GarbageSettings
) -> list[str]:
    """Names of one Warehouse's Freight to collect, oldest last."""
    if len(freight) <= settings.max_retained_freight:
        return []
    ordered = sorted(freight, key=lambda f: (f.get("discoveredAt") or "", f["name"]), reverse=True)
    oldest_in_use = max((i for i, f in enumerate(ordered) if f["name"] in in_use), default=-1)
    first = oldest_in_use + settings.max_retained_freight + 1
    names = []
    for record in ordered[first:]:
        discovered = parse_time(record.get("discoveredAt"))
        if record["name"] in in_use or discovered is None or now - discovered < settings.min_freight_deletion_age:
            continue
        names.append(record["name"])
    return names


@dataclass(frozen=True)
class PromotionRecord:
    name: str
    created: datetime
    ended: bool


def promotions_to_collect(promotions: list[PromotionRecord], now: datetime, settings: GarbageSettings) -> list[str]:
    """Names of one Stage's Promotions past retention, oldest last."""
    if len(promotions) <= settings.max_retained_promotions:
        return []
    ordered = sorted(promotions, key=lambda p: (p.created, p.name), reverse=True)
    oldest_running = max((i for i, p in enumerate(ordered) if not p.ended), default=-1)
    first = oldest_running + settings.max_retained_promotions + 1
    return [p.name for p in ordered[first:] if p.ended and now - p.created >= settings.min_promotion_deletion_age]
