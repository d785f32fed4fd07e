"""FreightWorkflow: one Freight, an entity of its own (id `freight/<project>/<name>`).

A project's Freight used to live inside its ProjectWorkflow and rode every continue-as-new
as one payload, which passed Temporal's 2 MB limit at about 4,000 one-image Freight. Now
each Freight is a small workflow that holds its own document (origin, artifacts, alias,
`status`: currentlyIn, verifiedIn with longestSoak, approvedFor, metadata) and nothing
else, so no payload grows with the number of Freight:

- it is listed through Temporal's visibility (search attributes `GantryProject`,
  `GantryWarehouse`, `GantryFreight`, `GantryFreightAlias`, `GantryDiscoveredAt`; the
  document itself rides in the memo, so a page of Freight needs no query per item);
- it is changed by one update, `change` (a `FreightChange`), and read by the query `get`;
  promotions send theirs (entered, left, verified) by the signal `record` instead, and read
  the memo until it shows them, so one Freight promoted to many Stages at once meets no limit
  of updates in flight;
- once, when it starts, it offers itself to the Stages that take its Warehouse's Freight
  directly (`notify_downstream`), the job the project's announce queue did before;
- garbage collection ends it with the update `collect`: the workflow completes with its
  last document as its result, readable in Temporal while the namespace retains it.

Aliases are unique in a project through `FreightAliasWorkflow` claims
(`workflows/freight_alias.py`); `activities/freight_store.py` does the claiming.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import retries
    from pipeline.durations import parse_time
    from pipeline.freight import STAGE_CHANGES, FreightChange, apply_change
    from workflows import continuation, patches
    from workflows import search_attributes as sa
    from workflows.bugs import guard_signal, guard_update
    from workflows.messages import FreightVerified

#: Freight change rarely (a few updates per Stage it passes); a history this long is still small
DEFAULT_MAX_HISTORY = 10_000


class FreightInput(BaseModel):
    project: str
    record: dict[str, Any]
    #: offer the Freight to direct Stages when this run starts (its first run only)
    announce: bool = True
    max_history: int = DEFAULT_MAX_HISTORY


def freight_search_attributes(project: str, record: dict[str, Any]) -> TypedSearchAttributes:
    """What visibility filters Freight by (set when the store starts the workflow)."""
    pairs = [
        SearchAttributePair(sa.PROJECT, project),
        SearchAttributePair(sa.FREIGHT, record["name"]),
        SearchAttributePair(sa.WAREHOUSE, (record.get("origin") or {}).get("name") or ""),
        SearchAttributePair(sa.ALIAS, record.get("alias") or ""),
    ]
    discovered = parse_time(record.get("discoveredAt"))
    if discovered is not None:
        pairs.append(SearchAttributePair(sa.DISCOVERED_AT, discovered))
    return TypedSearchAttributes(pairs)


@workflow.defn(name="FreightWorkflow")
class FreightWorkflow:
    @workflow.init
    def __init__(self, input: FreightInput) -> None:
        self._input = input
        self._record = input.record
        self._collected = False
        #: a `record` signal changed the document; the run loop upserts the memo once for all
        self._memo_stale = False

    @workflow.run
    async def run(self, input: FreightInput) -> dict[str, Any]:
        if input.announce:
            await self._announce()
        while True:
            await workflow.wait_condition(
                lambda: self._memo_stale or self._collected or continuation.due(input.max_history)
            )
            if not self._memo_stale or self._collected:
                break
            self._memo_stale = False  # only `record` sets it: a history without one never gets here
            if workflow.patched(patches.FREIGHT_RECORD_SIGNAL.id):  # old code left the signal unhandled
                workflow.upsert_memo({"freight": self._record})
        if self._collected:
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self._record
        await continuation.hand_over(
            FreightInput(project=input.project, record=self._record, announce=False, max_history=input.max_history),
            memo={"freight": self._record},
        )

    async def _announce(self) -> None:
        """New Freight reaches the Stages that take it directly (where auto-promotion is on)."""
        try:
            await workflow.execute_activity(
                "notify_downstream",
                FreightVerified(project=self._input.project, stage="", freight=self._record["name"], verified_at=workflow.now()),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retries.TELL,
                summary=f"offer new freight {self._record.get('alias')} to direct stages",
            )
        except ActivityError as err:
            workflow.logger.warning("could not offer freight %s to direct stages: %s", self._record["name"], err)

    @workflow.query(name="get", description="The Freight document (flattened: name, alias, origin, artifacts, status)")
    def get(self) -> dict[str, Any]:
        return self._record

    @workflow.update(name="change", description="Change where the Freight is, was verified or approved, its alias or metadata")
    @guard_update
    def change(self, change: FreightChange) -> dict[str, Any]:
        apply_change(self._record, change, workflow.now())
        if change.kind == "alias":
            workflow.upsert_search_attributes([sa.ALIAS.value_set(change.alias)])
        workflow.upsert_memo({"freight": self._record})
        return self._record

    @workflow.signal(name="record", description="A promotion's change (entered, left, verified), without a reply")
    @guard_signal
    def record(self, change: FreightChange) -> None:
        """What `change` does for promotions, by signal: the server allows 10 updates in flight
        per workflow, and one Freight promoted to 60 Stages at once met that limit (bench/scale.py).
        Signals have no such limit and arrive in batches; the memo is upserted once per batch,
        and the writer polls it (`FreightStore.record`)."""
        if self._collected or change.kind not in STAGE_CHANGES or not change.stage:
            workflow.logger.warning("freight %s: %s change to %r not recorded", self._record["name"], change.kind, change.stage)
            return
        apply_change(self._record, change, workflow.now())
        self._memo_stale = True

    @change.validator
    def validate_change(self, change: FreightChange) -> None:
        if self._collected:
            raise ValueError(f"freight {self._record['name']} was garbage-collected")
        if change.kind in ("entered", "left", "verified", "approved", "stage_deleted") and not change.stage:
            raise ValueError(f"a {change.kind!r} change needs a stage")

    @workflow.update(name="collect", description="Garbage collection: end this Freight, its document as the result")
    def collect(self) -> dict[str, Any]:
        self._collected = True
        return self._record
