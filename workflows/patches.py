"""Every ``workflow.patched`` id in Gantry, in one list (docs/architecture.md, "Versioning
workflow code").

A patch id is written into the history of every run that takes the new path, so once
released it is never renamed or reused. Workflow code takes ids from here only
(``patches.X.id``, or a constant set from it), never a string of its own:
tests/unit/test_patches.py checks that.

Each entry says when it was added and from which commit on the code has it: runs started
(or, for Project, Stage and Warehouse workflows, last continued-as-new) by older code are
the ones that still need the old path. When none of those can still be running, the entry
moves to ``state="deprecated"`` (the code calls ``workflow.deprecate_patch`` and keeps only
the new path); once no run from before the deprecation can be running either, the call and
the entry go. Runs that can still be running: a promotion lives at most its longest soak
or PR wait, then the namespace's retention keeps its history; the long-lived workflows need
to have continued-as-new under code that has the patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Patch:
    id: str
    """what ``workflow.patched`` / ``workflow.deprecate_patch`` take: ``gantry-<what>``, never renamed"""
    added: str
    """the date it was added (YYYY-MM-DD)"""
    since: str
    """the first commit whose code has it: runs of older code still need the old path"""
    workflows: tuple[str, ...]
    """the workflow types that call it"""
    what: str
    """the change it gates"""
    state: Literal["patched", "deprecated"] = "patched"


BUG_ENDS_PROMOTION = Patch(
    id="gantry-bug-ends-promotion",
    added="2026-11-30",
    since="4e7fc62",
    workflows=("PromotionWorkflow",),
    what="a Temporal failure nobody caught ends the promotion Errored and releases the Stage's lock "
    "(before: it failed the workflow); workflows/bugs.py",
)

BUG_SURVIVED = Patch(
    id="gantry-bug-survived",
    added="2026-11-30",
    since="4e7fc62",
    workflows=("ProjectWorkflow", "StageWorkflow", "WarehouseWorkflow"),
    what="a Temporal failure in a handler or a loop item is logged and dropped (before: it failed the "
    "long-lived workflow); workflows/bugs.py",
)

FREIGHT_WORKFLOWS = Patch(
    id="gantry-freight-workflows",
    added="2026-12-01",
    since="974dd97",
    workflows=("ProjectWorkflow",),
    what="the run loop moves Freight kept in the project's catalog into FreightWorkflows, a batch per "
    "activity (before: the catalog held every Freight and rode continue-as-new)",
)

PROMOTION_RECORDS_FREIGHT = Patch(
    id="gantry-promotion-records-freight",
    added="2026-12-01",
    since="974dd97",
    workflows=("PromotionWorkflow",),
    what="a successful promotion of a FreightWorkflow's Freight records entered/verified on it by an "
    "activity before it ends (there were no FreightWorkflows before)",
)

WAREHOUSE_COLLECTS_GARBAGE = Patch(
    id="gantry-warehouse-collects-garbage",
    added="2026-12-01",
    since="974dd97",
    workflows=("WarehouseWorkflow",),
    what="after a pass, at most hourly, the collect_garbage activity removes the Warehouse's old Freight",
)

STAGE_KEEPS_HISTORY = Patch(
    id="gantry-stage-keeps-history",
    added="2026-12-01",
    since="974dd97",
    workflows=("PromotionWorkflow",),
    what="a promotion that held the lock signals the Stage `finished` (its record, and the lock back) "
    "instead of `release`; the Stage, not the project, keeps its Freight history and verification runs",
)

FREIGHT_RECORD_SIGNAL = Patch(
    id="gantry-freight-record-signal",
    added="2026-12-01",
    since="ae4c3e8",
    workflows=("FreightWorkflow",),
    what="the run loop upserts the memo after `record` signals (a promotion's entered/left/verified "
    "by signal; before: only by the `change` update, and old code left such a signal unhandled)",
)
PROMOTION_OUTCOME = Patch(
    id="gantry-promotion-outcome",
    added="2026-12-01",
    since="1fe16d2",
    workflows=("PromotionWorkflow",),
    what="a Failed or Errored promotion fails its workflow (PromotionFailed/PromotionErrored, the status as "
    "details) and one aborted by cancellation ends Canceled (before: Completed whatever the phase); an abort "
    "cancels the verification child instead of signalling `abort`",
)

VERIFICATION_OUTCOME = Patch(
    id="gantry-verification-outcome",
    added="2026-12-01",
    since="1fe16d2",
    workflows=("VerificationWorkflow",),
    what="a verification that ends Failed, Error or Inconclusive fails its workflow (the status as details), one "
    "cancelled ends Canceled, and GantryPhase is upserted with its final phase (before: Completed, no phase)",
)

MATCH_UPSTREAM = Patch(
    id="gantry-match-upstream",
    added="2026-12-01",
    since="fbb6d33",
    workflows=("StageWorkflow",),
    what="an `upstream_verified` for a MatchUpstream request is taken even for Freight auto-promoted here before "
    "(the Stage follows its upstream back); before: a Freight was auto-promoted at most once",
)

STAGE_RETIRES_WHEN_IDLE = Patch(
    id="gantry-stage-retires-when-idle",
    added="2026-12-01",
    since="a05acc0",
    workflows=("StageWorkflow",),
    what="a `retire` that finds the Stage busy drops its pending auto-promotions and ends the workflow once "
    "no promotion holds or waits for the lock, across continue-as-new (before: it was forgotten, and the "
    "next garbage collection asked again); deleted Stages are retired this way",
)

STAGE_GRANT_RACE = Patch(
    id="gantry-stage-grant-race",
    added="2026-12-01",
    since="29c554f",
    workflows=("StageWorkflow",),
    what="a grant whose holder released the lock while the grant's signal was on the way leaves the lock "
    "free and ungranted, and a new holder taken from the queue is always granted (before: the free lock "
    "stayed marked granted, and the next holder was never told, a Stage locked until its restart)",
)

PROMOTION_CONCURRENT_CALLS = Patch(
    id="gantry-promotion-concurrent-calls",
    added="2026-12-01",
    since="222024f",
    workflows=("PromotionWorkflow",),
    what="the stage lock is requested and a worker claimed while the promotion's context loads (Freight "
    "found unavailable gives both back), and the working directory is removed while the Freight is "
    "recorded: three round trips fewer (before: one after the other). Retired id, never used: "
    "gantry-promotion-overlaps (an unreleased first form)",
)

PROMOTION_LOCAL_CALLS = Patch(
    id="gantry-promotion-local-calls",
    added="2026-12-01",
    since="0a17cb0",
    workflows=("PromotionWorkflow",),
    what="the promotion's context, its lock request, its worker claim and its Freight's record are local "
    "activities run by the worker running the workflow (markers in the history; before: activities on the "
    "shared queue, each a task-queue round trip and a workflow task)",
)

PROMOTION_LOCK_IN_ANSWER = Patch(
    id="gantry-promotion-lock-in-answer",
    added="2026-12-01",
    since="6ac7237",
    workflows=("PromotionWorkflow",),
    what="the promotion asks for the stage lock with the Stage's `acquire_now` update, whose answer says "
    "whether the lock is its own already (a free Stage: no `lock_granted` signal, one workflow task fewer); "
    "before: the `acquire` signal, and always the signal back",
)

WAREHOUSE_WAKE_DURING_LOAD = Patch(
    id="gantry-warehouse-wake-during-load",
    added="2026-12-01",
    since="d1c9a5f",
    workflows=("WarehouseWorkflow",),
    what="a pass that finds no Warehouse but was woken while it read (the Warehouse applied just then) "
    "reads it again instead of ending as deleted (before: the wake was lost with the run, and the "
    "applied Warehouse had no loop until the next apply or refresh)",
)

#: every patch, oldest first; append only
ALL: tuple[Patch, ...] = (
    BUG_ENDS_PROMOTION,
    BUG_SURVIVED,
    FREIGHT_WORKFLOWS,
    PROMOTION_RECORDS_FREIGHT,
    WAREHOUSE_COLLECTS_GARBAGE,
    STAGE_KEEPS_HISTORY,
    FREIGHT_RECORD_SIGNAL,
    PROMOTION_OUTCOME,
    VERIFICATION_OUTCOME,
    MATCH_UPSTREAM,
    STAGE_RETIRES_WHEN_IDLE,
    STAGE_GRANT_RACE,
    PROMOTION_CONCURRENT_CALLS,
    PROMOTION_LOCAL_CALLS,
    PROMOTION_LOCK_IN_ANSWER,
    WAREHOUSE_WAKE_DURING_LOAD,
)
