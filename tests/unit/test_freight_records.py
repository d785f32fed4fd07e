"""A Freight's own record (FreightWorkflow) and a Stage's history (StageWorkflow): the pure
rules they apply (pipeline/freight.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.freight import (
    HISTORY_LIMIT,
    FreightChange,
    StageVisit,
    apply_change,
    change_shows,
    check_alias,
    independent,
    merge_visits,
    record_visit,
)

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_freight_enters_is_verified_and_leaves_with_its_longest_soak() -> None:
    record: dict = {"name": "f", "status": {}}
    apply_change(record, FreightChange(kind="entered", stage="dev", at=at(0)), at(0))
    apply_change(record, FreightChange(kind="verified", stage="dev", at=at(5)), at(5))
    apply_change(record, FreightChange(kind="verified", stage="dev", at=at(9)), at(9))  # the first counts
    assert record["status"]["verifiedIn"]["dev"] == {"verifiedAt": at(5).isoformat()}
    apply_change(record, FreightChange(kind="left", stage="dev", at=at(65)), at(65))
    assert "dev" not in record["status"]["currentlyIn"]
    assert record["status"]["verifiedIn"]["dev"]["longestSoak"] == "1h0m0s"


def test_a_stage_change_shows_once_applied_and_when_overtaken() -> None:
    """What `FreightStore.record` polls the memo with after sending a change by signal."""
    record: dict = {"name": "f"}
    entered = FreightChange(kind="entered", stage="dev", at=at(0))
    verified = FreightChange(kind="verified", stage="dev", at=at(5))
    left = FreightChange(kind="left", stage="dev", at=at(9))
    assert not change_shows(record, entered) and not change_shows(record, verified)
    assert change_shows(record, left)  # never there: nothing to wait for
    apply_change(record, entered, at(0))
    assert change_shows(record, entered) and not change_shows(record, left)
    assert not change_shows(record, entered.model_copy(update={"at": at(1)}))  # a later entry is not this one
    apply_change(record, verified, at(5))
    assert change_shows(record, verified)
    apply_change(record, left, at(9))
    assert change_shows(record, left) and not change_shows(record, entered)
    apply_change(record, FreightChange(kind="entered", stage="dev", at=at(20)), at(20))
    assert change_shows(record, left), "an entry after the leaving overtook it"
    with pytest.raises(ValueError, match="not sent by signal"):
        change_shows(record, FreightChange(kind="approved", stage="dev"))


def test_approval_alias_and_metadata() -> None:
    record: dict = {"name": "f", "alias": "a"}
    apply_change(record, FreightChange(kind="approved", stage="prod", actor="alice"), at(1))
    assert record["status"]["approvedFor"]["prod"] == {"approvedAt": at(1).isoformat(), "by": "alice"}
    apply_change(record, FreightChange(kind="alias", alias="b"), at(2))
    apply_change(record, FreightChange(kind="metadata", values={"x": 1}), at(3))
    apply_change(record, FreightChange(kind="metadata", values={"y": 2}), at(3))
    assert record["alias"] == "b" and record["status"]["metadata"] == {"x": 1, "y": 2}


@pytest.mark.parametrize("alias", ["", "-a", "a-", "a" * 64, "a b", "a/b"])
def test_aliases_follow_label_value_rules(alias: str) -> None:
    with pytest.raises(ValueError):
        check_alias(alias)


def test_a_stage_history_opens_and_closes_visits() -> None:
    visits: list[StageVisit] = []
    record_visit(visits, "a", "p1", at(0))
    record_visit(visits, "a", "p2", at(1))  # the same Freight again: nothing changes
    record_visit(visits, "b", "p3", at(2))
    assert [(v.freight, v.until) for v in visits] == [("b", None), ("a", at(2))]
    for i in range(HISTORY_LIMIT + 5):
        record_visit(visits, f"f{i}", f"q{i}", at(10 + i))
    assert len(visits) == HISTORY_LIMIT and visits[0].freight == f"f{HISTORY_LIMIT + 4}"


def test_what_a_project_kept_merges_under_the_stage_own_history() -> None:
    own = [StageVisit(freight="new", since=at(10), promotion="p2")]
    kept = [StageVisit(freight="old", since=at(0), promotion="p1"), StageVisit(freight="new", since=at(10))]
    merged = merge_visits(own, kept)
    assert [v.freight for v in merged] == ["new", "old"]
    assert merged[1].until == at(10), "only the newest visit can be open"


def test_a_promotions_entered_and_verified_may_be_sent_at_once_but_not_left() -> None:
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    entered, verified = FreightChange(kind="entered", stage="dev", at=at), FreightChange(kind="verified", stage="dev", at=at)
    assert independent([entered, verified])
    assert not independent([entered])  # one change: nothing to send at once
    assert not independent([FreightChange(kind="left", stage="dev", at=at), verified])  # left reads verifiedAt
    assert not independent([entered, entered])
    one, other = {"name": "f"}, {"name": "f"}
    for change in (entered, verified):
        apply_change(one, change, at)
    for change in (verified, entered):
        apply_change(other, change, at)
    assert one == other
