"""Kargo's garbage-collection rule (pipeline/garbage.py), by table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from activities.garbage import worker_settings
from pipeline.garbage import GarbageSettings, PromotionRecord, freight_to_collect, promotions_to_collect

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def freight(count: int, days_old: float = 30, apart: timedelta = timedelta(hours=1)) -> list[dict]:
    """`count` Freight, f0 the newest, `apart` from each other, the newest `days_old` days old."""
    start = NOW - timedelta(days=days_old)
    return [{"name": f"f{i}", "discoveredAt": (start - i * apart).isoformat()} for i in range(count)]


@pytest.mark.parametrize(
    ("count", "in_use", "keep", "expected"),
    [
        (5, set(), 5, []),  # no more than the number kept: nothing goes
        (5, set(), 2, ["f2", "f3", "f4"]),  # nothing in use: the newest `keep` stay
        (8, {"f3"}, 2, ["f6", "f7"]),  # the oldest in use and the 2 after it stay
        (8, {"f1", "f5"}, 1, ["f7"]),  # the oldest in use marks the line
        (8, {"f7"}, 0, []),  # the oldest Freight is in use: everything newer stays
        (6, {"f0"}, 0, ["f1", "f2", "f3", "f4", "f5"]),
    ],
)
def test_freight_beyond_the_oldest_in_use_and_the_retained_goes(count, in_use, keep, expected) -> None:
    settings = GarbageSettings(max_retained_freight=keep, min_freight_deletion_age=timedelta(days=14))
    assert freight_to_collect(freight(count), in_use, NOW, settings) == expected


def test_young_freight_stays_however_much_there_is() -> None:
    """With the defaults, a burst of thousands of new Freight is all kept."""
    burst = freight(5000, days_old=0, apart=timedelta(milliseconds=10))
    assert freight_to_collect(burst, set(), NOW, GarbageSettings()) == []
    mixed = freight(30, days_old=13.9)  # the newest 13.9 days old, one hour apart
    collected = freight_to_collect(mixed, set(), NOW, GarbageSettings())
    assert collected == [f"f{i}" for i in range(20, 30) if i >= 3], "only those past 14 days, beyond the newest 20"


def test_promotions_beyond_the_oldest_running_and_the_retained_go() -> None:
    promos = [PromotionRecord(f"p{i}", NOW - timedelta(days=20, hours=i), ended=i != 2) for i in range(6)]
    settings = GarbageSettings(max_retained_promotions=2)
    assert promotions_to_collect(promos, NOW, settings) == ["p5"]
    assert promotions_to_collect(promos, NOW, GarbageSettings()) == []


def test_settings_come_from_the_worker_then_the_project() -> None:
    worker = worker_settings({"GANTRY_GC_MAX_RETAINED_FREIGHT": "5", "GANTRY_GC_MIN_FREIGHT_DELETION_AGE": "48h"})
    assert worker.max_retained_freight == 5 and worker.min_freight_deletion_age == timedelta(hours=48)
    assert worker.max_retained_promotions == 20
    project = worker.overridden({"maxRetainedFreight": 1, "minPromotionDeletionAge": "1h"})
    assert project.max_retained_freight == 1 and project.min_freight_deletion_age == timedelta(hours=48)
    assert project.min_promotion_deletion_age == timedelta(hours=1)
    with pytest.raises(ValueError, match="must not be negative"):
        worker_settings({"GANTRY_GC_MAX_RETAINED_FREIGHT": "-1"})
    with pytest.raises(ValueError, match="duration"):
        worker_settings({"GANTRY_GC_MIN_FREIGHT_DELETION_AGE": "two weeks"})
