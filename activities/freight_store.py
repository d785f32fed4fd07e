"""Freight kept as workflows of their own: create, find, list, change, collect.

One place that knows how Freight is stored (a `FreightWorkflow` per Freight, a
`FreightAliasWorkflow` per alias claim, visibility for lists), used by the client API, the
Warehouse's activity and the promotion's activities alike, so every way in follows the
same rules: the origin Warehouse must exist, there is at least one artifact, the name is the
SHA-1 of the artifacts (so creating the same artifacts twice gives the same Freight), and
an alias is unique in the project.

Reads by name or alias are strongly consistent (a query of one workflow). Lists and name
prefixes go through visibility, which trails a write by some milliseconds (8-70 ms on the
dev server); they come newest first by creation.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.updates import retry_unprocessed, turned_away, was_unprocessed
from pipeline.durations import parse_time
from pipeline.freight import (
    NAME_PREFIX,
    STAGE_CHANGES,
    FreightChange,
    alias_for,
    change_shows,
    check_alias,
    check_artifacts,
    name_of,
    new_record,
)
from workflows.failures import cause_message
from workflows.freight import FreightInput, freight_search_attributes
from workflows.freight_alias import AliasClaim
from workflows.ids import (
    freight_alias_workflow_id,
    freight_workflow_id,
    project_workflow_id,
)

#: how many generated aliases are tried before giving up (clashes are rare: 3,000 base names)
ALIAS_TRIES = 50
#: seconds a promotion's change by signal may take to show before the update is made instead
RECORD_WAIT = 10.0


class FreightRefused(ValueError):
    """A create or change the rules refuse (the message says why); never worth a retry."""


def query_literal(value: str) -> str:
    """A value for a visibility query; names here are validated, but a quote must never end one."""
    if "'" in value or "\\" in value:
        raise FreightRefused(f"{value!r} cannot be looked up")
    return f"'{value}'"


class FreightPage:
    """One page of a Freight list, newest first, and the token of the next page (None at the end)."""

    def __init__(self, items: list[dict[str, Any]], next_token: str | None):
        self.items = items
        self.next_token = next_token


class FreightStore:
    def __init__(self, client: Client, task_queue: str):
        self.client = client
        self.task_queue = task_queue

    # -- reading -------------------------------------------------------------------

    async def _if_running(self, handle: WorkflowHandle) -> WorkflowExecutionDescription | None:
        """The workflow's description while it runs; None when it ended or never was."""
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return description if description.status == WorkflowExecutionStatus.RUNNING else None

    async def by_name(self, project: str, name: str) -> dict[str, Any] | None:
        """The Freight's document from its memo, which the workflow keeps current (it upserts
        the memo in the workflow task of every change). No query: a query of a workflow that is
        busy (one Freight promoted to many Stages at once) waits in a buffer of one and is
        refused, "consistent query buffer is full" (bench/scale.py)."""
        handle = self.client.get_workflow_handle(freight_workflow_id(project, name))
        description = await self._if_running(handle)
        if description is None:
            return None
        record = (await description.memo()).get("freight")
        return record if record is not None else await handle.query("get")

    async def alias_owner(self, project: str, alias: str) -> str | None:
        """The name of the Freight holding `alias`, or None. A claim names its Freight in its
        memo, which never changes (no query: the server answers describe without a worker,
        and with thousands of claims most are out of the worker's cache); claims made before
        the memo are queried."""
        handle = self.client.get_workflow_handle(freight_alias_workflow_id(project, alias))
        description = await self._if_running(handle)
        if description is None:
            return None
        owner = (await description.memo()).get("freight")
        return owner if owner is not None else await handle.query("freight")

    async def get(self, project: str, name_or_alias: str) -> dict[str, Any] | None:
        """By name, alias, or a name prefix of 7 or more hex digits that only one Freight has."""
        if not name_or_alias or "/" in name_or_alias:
            return None
        if NAME_PREFIX.fullmatch(name_or_alias) and len(name_or_alias) == 40:
            found = await self.by_name(project, name_or_alias)
            if found is not None:
                return found
        owner = await self.alias_owner(project, name_or_alias)
        if owner is not None:
            found = await self.by_name(project, owner)
            if found is not None:
                return found
        if NAME_PREFIX.fullmatch(name_or_alias) and len(name_or_alias) < 40:
            query = self.query(project) + f" AND GantryFreight STARTS_WITH {query_literal(name_or_alias)}"
            matches = [e.id async for e in self.client.list_workflows(query, limit=2)]
            if len(matches) == 1:
                return await self.by_name(project, matches[0].rsplit("/", 1)[-1])
        return None

    async def legacy(self, project: str, name_or_alias: str | None = None) -> Any:
        """The project's catalog of old (Freight from before FreightWorkflows, until the
        project's run loop has moved it out): one Freight, or all of it when no name is given."""
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        try:
            if name_or_alias is None:
                return await handle.query("freight") or []
            return await handle.query("get_freight", name_or_alias)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return [] if name_or_alias is None else None
            raise

    async def find(self, project: str, name_or_alias: str) -> dict[str, Any] | None:
        """A Freight wherever it is kept: its FreightWorkflow, else the project's catalog of old."""
        found = await self.get(project, name_or_alias)
        return found if found is not None else await self.legacy(project, name_or_alias)

    @staticmethod
    def query(project: str, warehouse: str | None = None) -> str:
        """The visibility query for the running Freight of a project (or of one Warehouse)."""
        query = f"WorkflowType='FreightWorkflow' AND ExecutionStatus='Running' AND GantryProject={query_literal(project)}"
        if warehouse:
            query += f" AND GantryWarehouse={query_literal(warehouse)}"
        return query

    async def page(
        self, project: str, *, limit: int = 100, token: str | None = None, warehouse: str | None = None
    ) -> FreightPage:
        """One page of the project's Freight, newest first."""
        listing = self.client.list_workflows(
            self.query(project, warehouse),
            page_size=max(1, limit),
            next_page_token=base64.urlsafe_b64decode(token.encode()) if token else None,
        )
        await listing.fetch_next_page()
        items = [] if token else list(await self.legacy(project))
        if warehouse:
            items = [f for f in items if (f.get("origin") or {}).get("name") == warehouse]
        for execution in listing.current_page:
            memo = await execution.memo()
            record = memo.get("freight")
            if record is None:  # started without a memo: read it
                record = await self.by_name(project, execution.id.rsplit("/", 1)[-1])
            if record is not None:
                items.append(record)
        next_token = base64.urlsafe_b64encode(listing.next_page_token).decode() if listing.next_page_token else None
        return FreightPage(items, next_token)

    async def all(self, project: str, warehouse: str | None = None) -> list[dict[str, Any]]:
        """Every Freight of the project (or of one Warehouse), newest first: for small projects
        and tests; lists for people go page by page."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = await self.page(project, limit=1000, token=token, warehouse=warehouse)
            items += page.items
            token = page.next_token
            if token is None:
                return items

    async def newer_exists(self, project: str, record: dict[str, Any]) -> bool | None:
        """Does the Freight's Warehouse have Freight discovered after this one? None when the
        server cannot say (a server without visibility, such as the time-skipping test server)."""
        origin = (record.get("origin") or {}).get("name") or ""
        query = self.query(project, origin) + f" AND GantryFreight != {query_literal(record['name'])}"
        discovered = parse_time(record.get("discoveredAt"))
        if discovered is not None:
            query += f" AND GantryDiscoveredAt > {query_literal(discovered.isoformat())}"
        try:
            return any([e async for e in self.client.list_workflows(query, limit=1)])
        except RPCError as err:
            if err.status == RPCStatusCode.UNIMPLEMENTED:
                return None
            raise

    # -- aliases ---------------------------------------------------------------------

    async def _claim(self, project: str, alias: str, name: str) -> bool:
        """Claim `alias` for Freight `name`: True when it is (now or already) that Freight's."""
        for _ in range(3):
            try:
                await self.client.start_workflow(
                    "FreightAliasWorkflow",
                    AliasClaim(project=project, alias=alias, freight=name),
                    id=freight_alias_workflow_id(project, alias),
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    memo={"freight": name},
                    static_summary=f"Alias {alias} of freight {name[:7]} ({project})",
                )
                return True
            except WorkflowAlreadyStartedError:
                owner = await self.alias_owner(project, alias)
                if owner is not None:  # None: released just now; claim again
                    return owner == name
        return False

    async def _release(self, project: str, alias: str, name: str) -> None:
        try:
            await self.client.get_workflow_handle(freight_alias_workflow_id(project, alias)).signal("release", name)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    async def _claim_generated(self, project: str, name: str) -> str:
        taken: set[str] = set()
        for _ in range(ALIAS_TRIES):
            alias = alias_for(name, taken)
            if await self._claim(project, alias, name):
                return alias
            taken.add(alias)
        raise FreightRefused(f"no free alias for freight {name} after {ALIAS_TRIES} tries")

    # -- writing ---------------------------------------------------------------------

    async def check_origin(self, project: str, freight: dict[str, Any]) -> None:
        """The origin Warehouse must exist. One Warehouse is read, not the whole manifests
        (a 200-Stage project's are 220 KB: bench/scale.py)."""
        origin = (freight.get("origin") or {}).get("name")
        handle = self.client.get_workflow_handle(project_workflow_id(project))
        try:
            found = await handle.query("warehouse", str(origin or ""))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise FreightRefused(f"project {project!r} does not exist (apply its manifests first)") from None
            raise
        if origin and found is not None:
            return
        manifests = await handle.query("manifests")
        warehouses = sorted((((manifests or {}).get("projects") or {}).get(project) or {}).get("warehouses") or {})
        if not origin or origin not in warehouses:
            raise FreightRefused(
                f"freight origin Warehouse {origin!r} does not exist in project {project}"
                + (f" (warehouses: {', '.join(warehouses)})" if warehouses else " (apply a Warehouse first)")
            )

    async def create(
        self, project: str, freight: dict[str, Any], now: datetime, *, announce: bool = True, check: bool = True
    ) -> dict[str, Any]:
        """Create Freight, or return the one with the same artifacts. `check` False skips the
        origin check (the caller made it); `announce` False does not offer it to direct Stages."""
        check_artifacts(freight)
        if freight.get("discoveredAt") is not None and parse_time(freight["discoveredAt"]) is None:
            raise FreightRefused(f"discoveredAt {freight['discoveredAt']!r} is not a time: write RFC 3339, e.g. 2026-12-01T10:00:00Z")
        if check:
            await self.check_origin(project, freight)
        name = name_of(freight)
        existing = await self.by_name(project, name)
        if existing is not None:
            return existing
        given = freight.get("alias")
        if given:
            check_alias(given)
            if not await self._claim(project, given, name):
                owner = await self.alias_owner(project, given)
                raise FreightRefused(f"alias {given!r} is already used by freight {owner}")
            alias = given
        else:
            alias = await self._claim_generated(project, name)
        record = new_record(freight, name, alias, now)
        handle = await self._start(project, record, announce=announce)
        # its memo (describe needs no worker); a query only if it ended in between
        stored = await self.by_name(project, name) or await handle.query("get")
        if stored.get("alias") != alias:  # it existed already (a racing create): our claim is not needed
            await self._release(project, alias, name)
        return stored

    async def _start(self, project: str, record: dict[str, Any], *, announce: bool) -> WorkflowHandle:
        """Start the Freight's workflow, or find the one running (a racing create)."""
        return await self.client.start_workflow(
            "FreightWorkflow",
            FreightInput(project=project, record=record, announce=announce),
            id=freight_workflow_id(project, record["name"]),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            memo={"freight": record},
            search_attributes=freight_search_attributes(project, record),
            static_summary=f"Freight {record.get('alias')} ({project})",
        )

    async def change(self, project: str, name_or_alias: str, change: FreightChange) -> dict[str, Any]:
        if change.kind == "alias":
            return await self.set_alias(project, name_or_alias, change.alias)
        found = await self.get(project, name_or_alias)
        if found is None:
            raise FreightRefused(f"freight {name_or_alias!r} does not exist in project {project}")
        if change.kind in STAGE_CHANGES and change.stage:
            return await self.record(project, found["name"], change)
        return await self._update(project, found["name"], "change", change)

    async def record(self, project: str, name: str, change: FreightChange) -> dict[str, Any]:
        """A promotion's change, read back as applied (the next promotion's availability check
        must see it): the update `change`, one round trip. A Freight busy with other updates
        (the server admits 10 in flight per workflow; one Freight promoted to 60 Stages at once
        met that limit, bench/scale.py) takes it by the signal `record` instead, and the memo
        is read until it shows it."""
        handle = self.client.get_workflow_handle(freight_workflow_id(project, name))
        try:
            return await handle.execute_update("change", change, result_type=dict)
        except WorkflowUpdateFailedError as err:
            if not was_unprocessed(err):
                raise FreightRefused(cause_message(err)) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise FreightRefused(f"freight {name!r} does not exist in project {project}") from None
            if not turned_away(err):
                raise
        return await self._record_by_signal(handle, project, name, change)

    async def _record_by_signal(self, handle: WorkflowHandle, project: str, name: str, change: FreightChange) -> dict[str, Any]:
        """The signal `record`, then the memo read until it shows the change. A Freight whose
        workflow runs code from before that signal (a rolling upgrade) never shows it: after
        RECORD_WAIT the update is made (each change is idempotent, so applying it twice does
        no harm)."""
        try:
            await handle.signal("record", change)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise FreightRefused(f"freight {name!r} does not exist in project {project}") from None
            raise
        deadline = time.monotonic() + RECORD_WAIT
        pause = 0.02
        while True:
            found = await self.by_name(project, name)
            if found is None:
                raise FreightRefused(f"freight {name!r} does not exist in project {project}")
            if change_shows(found, change):
                return found
            if time.monotonic() > deadline:
                return await self._update(project, name, "change", change)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _update(self, project: str, name: str, update: str, arg: Any = None) -> dict[str, Any]:
        handle = self.client.get_workflow_handle(freight_workflow_id(project, name))
        args = [] if arg is None else [arg]
        try:
            return await retry_unprocessed(lambda: handle.execute_update(update, args=args, result_type=dict))
        except WorkflowUpdateFailedError as err:
            raise FreightRefused(cause_message(err)) from None

    async def set_alias(self, project: str, name_or_alias: str, alias: str) -> dict[str, Any]:
        """Kargo's aliases are mutable and unique in a project."""
        check_alias(alias)
        found = await self.get(project, name_or_alias)
        if found is None:
            raise FreightRefused(f"freight {name_or_alias!r} does not exist in project {project}")
        name, old = found["name"], found.get("alias")
        if old == alias:
            return found
        if not await self._claim(project, alias, name):
            owner = await self.alias_owner(project, alias)
            raise FreightRefused(f"alias {alias!r} is already used by freight {owner}")
        record = await self._update(project, name, "change", FreightChange(kind="alias", alias=alias))
        if old:
            await self._release(project, old, name)
        return record

    async def import_records(self, project: str, records: list[dict[str, Any]]) -> list[str]:
        """Freight of a catalog of old become FreightWorkflows, status and alias kept (a
        generated alias when another Freight claimed theirs meanwhile); never announced
        again. Idempotent: a Freight that runs already is left as it is."""
        moved = []
        for record in records:
            name = record["name"]
            if await self.by_name(project, name) is None:
                alias = record.get("alias") or ""
                if not alias or not await self._claim(project, alias, name):
                    alias = await self._claim_generated(project, name)
                await self._start(project, {**record, "alias": alias}, announce=False)
            moved.append(name)
        return moved

    async def collect(self, project: str, name: str) -> dict[str, Any]:
        """End a Freight (garbage collection); its alias is free again."""
        record = await self._update(project, name, "collect")
        if record.get("alias"):
            await self._release(project, record["alias"], name)
        return record
