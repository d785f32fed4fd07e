"""compose-output, set-freight-alias, set-metadata and fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.base import STEP_FAILED  # noqa: E402
from activities.steps.compose_output import compose_output  # noqa: E402
from activities.steps.fail import fail  # noqa: E402
from activities.steps.set_freight_alias import set_freight_alias  # noqa: E402
from activities.steps.set_metadata import set_metadata  # noqa: E402
from tests.gitrepos import step  # noqa: E402

env = ActivityEnvironment()


async def run(fn, uses: str, cfg: dict):
    return await env.run(fn, step("p-misc", uses, cfg))


async def expect_failure(fn, uses: str, cfg: dict) -> ApplicationError:
    with pytest.raises(ApplicationError) as e:
        await run(fn, uses, cfg)
    assert e.value.type == STEP_FAILED and e.value.non_retryable
    return e.value


async def test_compose_output_returns_its_config() -> None:
    cfg = {"prURL": "https://x/pr/1", "nested": {"a": [1, 2]}, "flag": True, "none": None}
    res = await run(compose_output, "compose-output", cfg)
    assert res.status == "Succeeded" and res.outputs == cfg
    res.outputs["nested"]["a"].append(3)
    assert cfg["nested"]["a"] == [1, 2]  # a copy
    assert "at least one" in (await expect_failure(compose_output, "compose-output", {})).message


async def test_fail_always_fails_terminally() -> None:
    assert (await expect_failure(fail, "fail", {"message": "tests are red"})).message == "failed: tests are red"
    assert (await expect_failure(fail, "fail", {})).message == "failed"
    assert "reason" in (await expect_failure(fail, "fail", {"reason": "x"})).message


async def test_set_freight_alias_validates_and_describes_the_change() -> None:
    res = await run(set_freight_alias, "set-freight-alias", {"name": "f0123abc", "alias": "golden-retriever"})
    assert res.outputs == {"freightAlias": {"freight": "f0123abc", "alias": "golden-retriever"}}
    for cfg, field in [
        ({"alias": "x"}, "name"),
        ({"name": "f1"}, "alias"),
        ({"name": "f1", "alias": "not valid!"}, "alias"),
        ({"name": "f1", "alias": "-x"}, "alias"),
        ({"freight": "f1", "alias": "x"}, "'freight': unknown field"),
        ({"name": "f1", "alias": "x", "stage": "uat"}, "stage"),
    ]:
        assert field in (await expect_failure(set_freight_alias, "set-freight-alias", cfg)).message, cfg


async def test_set_metadata_validates_and_describes_the_updates() -> None:
    updates = [
        {"kind": "Stage", "name": "uat", "values": {"deployedBy": "ci", "ticket": {"id": 7}}},
        {"kind": "Freight", "name": "f1", "values": {"notes": ["a", "b"]}},
    ]
    res = await run(set_metadata, "set-metadata", {"updates": updates})
    assert res.outputs == {"metadata": updates}
    for cfg, field in [
        ({}, "updates"),
        ({"updates": []}, "updates"),
        ({"updates": [{"kind": "Warehouse", "name": "w", "values": {"a": 1}}]}, "updates[0].kind"),
        ({"updates": [{"kind": "Stage", "values": {"a": 1}}]}, "updates[0].name"),
        ({"updates": [{"kind": "Stage", "name": "uat", "values": {}}]}, "updates[0].values"),
        ({"updates": [{"kind": "Stage", "name": "uat", "values": {"a": 1}, "x": 1}]}, "updates[0].x"),
        ({"updates": ["Stage"]}, "updates[0]"),
    ]:
        assert field in (await expect_failure(set_metadata, "set-metadata", cfg)).message, cfg
