"""Failure-cause unwrapping has one helper (workflows/failures.cause_message); the client's
refusals and the catalog and warehouse activities report a refused update through it: the
innermost cause's own words, without the error type in front."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.catalog import CatalogActivities, CatalogChange  # noqa: E402
from activities.warehouses import WarehouseActivities  # noqa: E402
from client.api import Gantry, GantryError  # noqa: E402
from workflows.failures import cause_message  # noqa: E402
from workflows.messages import FreightCreate  # noqa: E402


def refused(message: str) -> WorkflowUpdateFailedError:
    """What the client raises when a project's update validator refuses (a ValueError there)."""
    return WorkflowUpdateFailedError(ApplicationError(message, type="ValueError"))


def test_cause_message_is_the_innermost_cause() -> None:
    assert cause_message(refused("alias 'a' is already used")) == "alias 'a' is already used"
    inner = ApplicationError("disk full", type="IOError")
    outer = ActivityError(
        "activity failed", scheduled_event_id=1, started_event_id=2, identity="w", activity_type="git-push",
        activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    outer.__cause__ = inner
    assert cause_message(outer) == "disk full"
    assert cause_message(RuntimeError()) == "RuntimeError"


class _Handle:
    def __init__(self, err: BaseException) -> None:
        self.err = err

    async def execute_update(self, *args: Any, **kwargs: Any) -> Any:
        raise self.err


class _Client:
    def __init__(self, err: BaseException) -> None:
        self.err = err

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self.err)


async def test_client_refusal_reads_the_cause() -> None:
    gantry = Gantry(_Client(refused("freight 'nope' does not exist in project p")))  # type: ignore[arg-type]
    with pytest.raises(GantryError) as e:
        await gantry.set_freight_alias("p", "nope", "x")
    assert str(e.value) == "freight 'nope' does not exist in project p"


async def test_activities_report_the_cause() -> None:
    env = ActivityEnvironment()
    catalog = CatalogActivities(_Client(refused("alias 'a' is already used")), "q")  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as e:
        await env.run(catalog.change_catalog, CatalogChange(project="p", kind="freight-alias", data={}))
    assert e.value.message == "alias 'a' is already used" and e.value.type == "StepFailed" and e.value.non_retryable
    warehouses = WarehouseActivities(_Client(refused("not asked")), "q")  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as e:  # refused by the store's rules before any call
        await env.run(warehouses.create_warehouse_freight, "p", FreightCreate(freight={"origin": {"name": "app"}}))
    assert e.value.message == "freight needs at least one image, commit or chart" and e.value.type == "FreightRefused"
