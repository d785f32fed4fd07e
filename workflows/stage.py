"""StageWorkflow: the stage lock, and the timers that auto-promote Freight after its soak.

One long-lived workflow per Stage (id `stage/<project>/<stage>`), started on first use by
signal-with-start, so a promotion started by any means finds it.

The lock: promotions ask with the `acquire` signal and wait for `lock_granted`; waiters
are served one at a time in arrival order. `gantry promote` reserves the place before it
starts the promotion (an `acquire` with ready=False), so the queue holds promotions in
request order; a reserved head is granted once its promotion asks itself. The holder
releases after its steps and its verification. A holder that ends without releasing
(terminated, timed out, lost), or a reservation whose promotion never came, is noticed by
a liveness check every `holder_check_interval`, and the lock moves on.

Auto-promotion: when Freight is verified in an upstream Stage, this Stage is told
(`upstream_verified`); if ProjectConfig enables auto-promotion here, it sleeps on a
durable timer until the Freight's soak ends and then starts the promotion.

A bug in this workflow's code (see `workflows/bugs.py`) never stops it: a signal that hits
one is logged and dropped, and a turn of the loop that hits one is logged and tried again
after a change or `holder_check_interval`, whichever comes first (a durable timer, so a bug
that repeats neither spins nor grows the history faster than the liveness check does). The
lock is never handed on because of a bug: dropping a holder could let two promotions run.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import metrics
    from workflows import retries
    from workflows import continuation, patches
    from workflows.bugs import LONG_LIVED_PATCH, guard_signal, handles, log_bug
    from workflows.ids import stage_workflow_id
    from workflows.patches import MATCH_UPSTREAM
    from pipeline.freight import StageVisit, merge_visits, record_visit
    from workflows.messages import (
        AutoPromotion,
        LockRequest,
        PromotionFinished,
        StageHistory,
        StageLockView,
        UpstreamVerified,
    )

DEFAULT_MAX_HISTORY = 5_000
#: verification runs a Stage keeps (`gantry get stage`); each names its workflow for the rest
VERIFICATIONS_KEPT = 20
ACTIVITY_TIMEOUT = timedelta(seconds=30)


class StageState(BaseModel):
    holder: LockRequest | None = None
    granted_at: datetime | None = None
    queue: list[LockRequest] = Field(default_factory=list)
    #: freight name -> when its soak here ends (pending auto-promotions)
    pending: dict[str, UpstreamVerified] = Field(default_factory=dict)
    #: Freight this Stage already auto-promoted, so a Freight is never auto-promoted twice
    auto_promoted: list[str] = Field(default_factory=list)
    served: int = 0
    #: the Stage's Freight history, newest first (HISTORY_LIMIT), and its last verification runs
    history: list[StageVisit] = Field(default_factory=list)
    verifications: list[dict[str, Any]] = Field(default_factory=list)
    #: why the Stage is retired (deleted, not applied): it ends once idle, even after continue-as-new
    retiring: str | None = None


class StageInput(BaseModel):
    project: str
    stage: str
    state: StageState | None = None
    holder_check_interval: timedelta = timedelta(seconds=10)
    max_history: int = DEFAULT_MAX_HISTORY


def _start_options(task_queue: str, project: str, stage: str) -> dict[str, Any]:
    """How a Stage's workflow is started by whoever reaches it first (signal- or
    update-with-start): one per Stage, the running one used as it is."""
    return {
        "id": stage_workflow_id(project, stage),
        "task_queue": task_queue,
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        "static_summary": f"Stage {stage} of project {project}",
    }


async def signal_stage(client: Client, task_queue: str, project: str, stage: str, signal: str, arg: Any) -> None:
    """Signal a Stage's workflow from outside a workflow, starting it first if it does not
    run yet (signal-with-start), so whoever comes first finds it."""
    await client.start_workflow(
        "StageWorkflow", StageInput(project=project, stage=stage), start_signal=signal, start_signal_args=[arg],
        **_start_options(task_queue, project, stage),
    )  # fmt: skip


async def ask_stage_lock(client: Client, task_queue: str, project: str, stage: str, request: LockRequest) -> bool:
    """The Stage's `acquire_now` update, starting its workflow first if it does not run yet
    (update-with-start): true when the promotion holds the lock on return."""
    start = WithStartWorkflowOperation(
        "StageWorkflow", StageInput(project=project, stage=stage), **_start_options(task_queue, project, stage)
    )
    return await client.execute_update_with_start_workflow(
        "acquire_now", request, start_workflow_operation=start, result_type=bool
    )


@workflow.defn(name="StageWorkflow")
class StageWorkflow:
    @workflow.init
    def __init__(self, input: StageInput) -> None:
        self._input = input
        self._state = input.state or StageState()
        self._changed = False
        self._retire: str | None = self._state.retiring

    # -- messages --------------------------------------------------------------------

    @workflow.signal(name="retire", description="The Stage is not applied in its project: end if idle")
    @guard_signal
    def retire(self, reason: str = "") -> None:
        self._retire = reason or "the stage is not applied in its project"
        self._changed = True

    @workflow.signal(name="acquire", description="A promotion asks for the stage lock")
    @guard_signal
    def acquire(self, request: LockRequest) -> None:
        state = self._state
        if state.holder and state.holder.promotion == request.promotion:
            self._changed = True  # a repeat: grant again below (the first grant may have been lost)
            state.granted_at = None
            return
        known = next((q for q in state.queue if q.promotion == request.promotion), None)
        if known is not None:  # the promotion asking for the place its starter reserved
            if request.ready and not known.ready:
                known.ready = True
                self._changed = True
            return
        state.queue.append(request)
        self._changed = True

    @workflow.update(name="acquire_now", description="A promotion asks for the stage lock: true when it holds it on return")
    def acquire_now(self, request: LockRequest) -> bool:
        """The `acquire` signal, answered. A promotion that finds the lock free, with nobody
        ahead of it in the queue, holds the lock when this returns true and gets no
        `lock_granted` signal (one workflow task fewer on its way to its first step); any
        other waits in the queue for that signal, as after `acquire`."""
        try:
            return self._take_at_once(request)
        except Exception as err:  # a bug: the promotion waits for the signal, as after `acquire`
            if not handles(err, LONG_LIVED_PATCH):
                raise
            log_bug("update acquire_now (answered false; the promotion is queued by signal)", err)
            self.acquire(request)
            return False

    def _take_at_once(self, request: LockRequest) -> bool:
        state = self._state
        if state.holder and state.holder.promotion == request.promotion:  # asked again: it holds it
            state.granted_at = state.granted_at or workflow.now()
            return True
        self.acquire(request)
        head = state.queue[0] if state.queue else None
        if state.holder is not None or head is None or head.promotion != request.promotion or not head.ready:
            return False
        state.holder, state.granted_at = state.queue.pop(0), workflow.now()
        self._changed = True
        return True

    @workflow.signal(name="release", description="A promotion is done with the stage (or gave up waiting)")
    @guard_signal
    def release(self, promotion: str) -> None:
        state = self._state
        if state.holder and state.holder.promotion == promotion:
            state.holder, state.granted_at = None, None
            state.served += 1
        state.queue = [q for q in state.queue if q.promotion != promotion]
        self._changed = True

    @workflow.signal(name="finished", description="A promotion that held the lock ended: its record, and the lock back")
    @guard_signal
    def finished(self, event: PromotionFinished) -> None:
        self._record(event)
        self.release(event.promotion)

    def _record(self, event: PromotionFinished) -> None:
        state = self._state
        if event.verification is not None:
            state.verifications.insert(0, event.verification)
            del state.verifications[VERIFICATIONS_KEPT:]
        if event.phase == "Succeeded":
            record_visit(state.history, event.freight, event.promotion, event.finished_at)

    @workflow.signal(name="adopt_history", description="What the project kept of this Stage's history before")
    @guard_signal
    def adopt_history(self, kept: StageHistory) -> None:
        state = self._state
        state.history = merge_visits(state.history, kept.visits)
        known = {v.get("id") for v in state.verifications}
        state.verifications += [v for v in kept.verifications if v.get("id") not in known]
        state.verifications.sort(key=lambda v: v.get("finishedAt") or "", reverse=True)
        del state.verifications[VERIFICATIONS_KEPT:]

    @workflow.query(name="history", description="The Stage's Freight history and verification runs, newest first")
    def history(self) -> StageHistory:
        return StageHistory(visits=self._state.history, verifications=self._state.verifications)

    @workflow.signal(name="upstream_verified", description="Freight was verified in an upstream Stage")
    @guard_signal
    def upstream_verified(self, event: UpstreamVerified) -> None:
        if event.freight in self._state.auto_promoted and not (
            event.match_upstream and workflow.patched(MATCH_UPSTREAM.id)
        ):
            return
        known = self._state.pending.get(event.freight)
        if known is None or event.soak_until < known.soak_until:
            self._state.pending[event.freight] = event
        self._changed = True

    @workflow.query(name="lock", description="Holder and queue of the stage lock, and pending auto-promotions")
    def lock(self) -> StageLockView:
        state = self._state
        return StageLockView(
            holder=state.holder.promotion if state.holder else None,
            granted_at=state.granted_at,
            queue=[q.promotion for q in state.queue],
            pending={name: e.soak_until for name, e in state.pending.items()},
            served=state.served,
        )

    # -- the loop --------------------------------------------------------------------

    @workflow.run
    async def run(self, input: StageInput) -> None:
        while True:
            if self._retire is not None:
                if self._is_idle():  # a Stage deleted, or made for a Stage that was never applied
                    workflow.logger.info("stage %s/%s ends: %s", input.project, input.stage, self._retire)
                    return
                if workflow.patched(patches.STAGE_RETIRES_WHEN_IDLE.id):
                    # busy: a Stage that is not applied auto-promotes nothing; it ends once its
                    # lock is free (the loop comes back here after every change)
                    self._state.pending.clear()
                    self._state.retiring = self._retire
                    if self._is_idle():
                        workflow.logger.info("stage %s/%s ends: %s", input.project, input.stage, self._retire)
                        return
                else:
                    self._retire = None  # busy: the next garbage collection asks again
            try:
                if await self._turn():
                    break
            except Exception as err:
                if not handles(err, LONG_LIVED_PATCH):
                    raise
                log_bug(f"stage {input.project}/{input.stage} (tried again later)", err)
                if await self._after_bug():
                    break
        await continuation.hand_over(
            StageInput(
                project=input.project,
                stage=input.stage,
                state=self._state,
                holder_check_interval=input.holder_check_interval,
                max_history=input.max_history,
            )
        )

    async def _turn(self) -> bool:
        """One turn of the loop: grant, wait for a change or a timer, check, fire soaks.
        True when it is time to continue as new."""
        state = self._state
        if state.holder is None and state.queue and state.queue[0].ready:
            state.holder = state.queue.pop(0)
            if state.granted_at is not None and workflow.patched(patches.STAGE_GRANT_RACE.id):
                state.granted_at = None  # left by a grant that raced its holder's release (older code)
        if state.holder and state.granted_at is None:
            await self._grant()
            return False
        if self._should_continue_as_new():
            return True
        metrics.lock_queue(self._input.project, self._input.stage, len(state.queue))
        wake = self._next_wake()
        self._changed = False
        timeout = None if wake is None else max(wake - workflow.now(), timedelta(0))
        try:
            await workflow.wait_condition(lambda: self._changed, timeout=timeout, timeout_summary=self._wake_summary())
        except asyncio.TimeoutError:
            pass
        if not self._changed:
            if state.holder and state.granted_at:
                await self._check_holder()
            elif self._reserved_head():
                await self._check_reservation()
        await self._fire_due_soaks()
        return False

    async def _after_bug(self) -> bool:
        """After a turn that hit a bug: wait for a change or `holder_check_interval`, then
        the loop tries again. True when it is time to continue as new instead."""
        if self._should_continue_as_new():
            return True
        self._changed = False
        try:
            await workflow.wait_condition(
                lambda: self._changed,
                timeout=self._input.holder_check_interval,
                timeout_summary="try again after an internal error",
            )
        except asyncio.TimeoutError:
            pass
        return False

    def _is_idle(self) -> bool:
        state = self._state
        return state.holder is None and not state.queue and not state.pending

    def _should_continue_as_new(self) -> bool:
        return continuation.due(self._input.max_history)

    def _next_wake(self) -> datetime | None:
        times = [e.soak_until for e in self._state.pending.values()]
        if (self._state.holder and self._state.granted_at) or self._reserved_head():
            times.append(workflow.now() + self._input.holder_check_interval)
        return min(times) if times else None

    def _reserved_head(self) -> LockRequest | None:
        """The queue's head while it is only a reservation (its promotion has not asked yet)."""
        state = self._state
        if state.holder is None and state.queue and not state.queue[0].ready:
            return state.queue[0]
        return None

    def _wake_summary(self) -> str:
        if self._state.pending:
            name, event = min(self._state.pending.items(), key=lambda item: item[1].soak_until)
            if not event.upstream:
                return f"offer new freight {name[:7]}"
            return f"soak of {name[:7]} from {event.upstream} ends"
        head = self._reserved_head()
        if head is not None:
            return f"wait for {head.promotion} to ask for the lock"
        return "check the lock holder is alive"

    async def _grant(self) -> None:
        state = self._state
        holder = state.holder
        assert holder is not None
        try:
            await workflow.get_external_workflow_handle(holder.promotion).signal("lock_granted", self._input.stage)
        except Exception as err:  # the promotion is gone: the next one may go
            workflow.logger.warning("lock holder %s is gone: %s", holder.promotion, err)
            state.holder, state.granted_at = None, None
            return
        # the holder may have given the lock back while the grant was on the way (a promotion
        # that asked early and found its Freight unavailable): the free lock stays ungranted
        if state.holder is holder or not workflow.patched(patches.STAGE_GRANT_RACE.id):
            state.granted_at = workflow.now()

    async def _check_holder(self) -> None:
        holder = self._state.holder
        if holder is None:
            return
        if await self._is_running(holder.promotion) is False and self._state.holder is holder:
            workflow.logger.warning("lock holder %s ended without releasing; moving on", holder.promotion)
            self.release(holder.promotion)

    async def _check_reservation(self) -> None:
        """A reserved place whose promotion never started (its starter died) is given up."""
        head = self._reserved_head()
        if head is None:
            return
        if await self._is_running(head.promotion) is False and self._reserved_head() is head:
            workflow.logger.warning("reserved promotion %s is not running; moving on", head.promotion)
            self.release(head.promotion)

    async def _is_running(self, promotion: str) -> bool | None:
        """None when it cannot be told now (ask again at the next check)."""
        try:
            return await workflow.execute_activity(
                "workflow_is_running",
                promotion,
                result_type=bool,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=retries.CHECK,
                summary=f"is {promotion} still running?",
            )
        except ActivityError:
            return None

    def _auto_promotion(self, freight: str, event: UpstreamVerified) -> AutoPromotion:
        request = AutoPromotion(project=self._input.project, stage=self._input.stage, freight=freight, upstream=event.upstream)
        if event.match_upstream:  # only events sent by code that knows MatchUpstream set it
            request.match_upstream, request.verified_at = True, event.verified_at
        return request

    async def _fire_due_soaks(self) -> None:
        now = workflow.now()
        for name, event in sorted(self._state.pending.items(), key=lambda item: item[1].soak_until):
            if event.soak_until > now:
                continue
            del self._state.pending[name]
            self._state.auto_promoted.append(name)
            del self._state.auto_promoted[:-100]
            try:
                await workflow.execute_activity(
                    "auto_promote",
                    self._auto_promotion(name, event),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=retries.CHANGE,
                    summary=f"auto-promote {name[:7]} after its soak in {event.upstream}",
                )
            except ActivityError as err:
                workflow.logger.warning("auto-promotion of %s failed: %s", name, err)
