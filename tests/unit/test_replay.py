"""Replay: every history recorded from a real run (tests/fixtures/histories, made by
scripts/record_histories.py) must replay against the current workflow code.

A change to a workflow that reorders, adds or drops commands breaks every execution of it
already running in production; here it fails with the file, the workflow type, id and run,
and the event Temporal's nondeterminism check stopped at. Such a change must be gated with
`workflow.patched` (docs/architecture.md, "Replay tests"); re-recording is for new scenarios,
never for making a failing replay pass.

Offline: `Replayer` needs no server. The last test is the positive control: a deliberately
changed PromotionWorkflow does not replay a recorded promotion.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from client.worker import WORKFLOWS, sandbox_runner
from tests.unit.replay_changed import ChangedPromotionWorkflow
from workflows.promotion import PromotionWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "fixtures" / "histories"
INDEX: dict[str, Any] = json.loads((HISTORIES / "index.json").read_text())
ROWS: dict[str, dict[str, Any]] = {row["file"]: row for row in INDEX["histories"]}
# how sdk-core names the event in a nondeterminism error: "HistoryEvent(id: 5, ...)",
# "event id 5", "event_id: 5"
EVENT_ID = re.compile(r"(?:HistoryEvent\(id: |event[ _]id[:= ]*)(\d+)", re.IGNORECASE)


def replayer(workflows: list[type] = WORKFLOWS) -> Replayer:
    # the same workflows, sandbox and data converter as the workers (client/worker.py,
    # client/settings.py)
    return Replayer(workflows=workflows, workflow_runner=sandbox_runner(), data_converter=pydantic_data_converter)


@lru_cache(maxsize=1)
def _replayer() -> Replayer:
    return replayer()


def load(file: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(ROWS[file]["workflow_id"], (HISTORIES / file).read_text())


def describe_failure(file: str, history: WorkflowHistory, err: BaseException) -> str:
    """What a reader needs: which workflow, which run, which event, and Temporal's message."""
    row = ROWS[file]
    text = str(err)
    where = ""
    match = EVENT_ID.search(text)
    if match:
        event_id = int(match.group(1))
        event = next((e for e in history.events if e.event_id == event_id), None)
        kind = EventType.Name(event.event_type) if event is not None else "not in the history"
        where = f" at event {event_id} ({kind})"
    return (
        f"{row['workflow_type']} {row['workflow_id']!r} (run {row['run_id']}, {file}) no longer replays{where}: "
        f"{type(err).__name__}: {text}\n"
        "A change to workflow code must replay every recorded history: gate it with workflow.patched "
        "(docs/architecture.md, 'Replay tests'); do not re-record to make this pass."
    )


def test_the_index_and_the_files_agree() -> None:
    on_disk = {str(p.relative_to(HISTORIES)) for p in HISTORIES.glob("*/*.json")}
    assert on_disk == set(ROWS), f"not in index.json: {sorted(on_disk - set(ROWS))}; missing: {sorted(set(ROWS) - on_disk)}"
    recorded = {row["workflow_type"] for row in ROWS.values()}
    assert recorded == {w.__temporal_workflow_definition.name for w in WORKFLOWS}, "every workflow type has histories"


@pytest.mark.parametrize("file", sorted(ROWS))
async def test_recorded_history_replays(file: str) -> None:
    history = load(file)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        pytest.fail(describe_failure(file, history, result.replay_failure), pytrace=False)


# -- positive control: a changed workflow fails ------------------------------------------


async def test_a_changed_workflow_fails_replay_and_names_the_event() -> None:
    file = next(f for f, row in sorted(ROWS.items()) if row["workflow_type"] == "PromotionWorkflow")
    history = load(file)
    changed = [ChangedPromotionWorkflow if w is PromotionWorkflow else w for w in WORKFLOWS]
    result = await replayer(changed).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None, "a workflow issuing a different command must not replay"
    message = describe_failure(file, history, result.replay_failure)
    row = ROWS[file]
    assert "PromotionWorkflow" in message and row["workflow_id"] in message and row["run_id"] in message
    assert re.search(r"at event \d+ \(EVENT_TYPE_", message), message
    assert "Nondeterminism" in message or "nondeterminism" in message, message
