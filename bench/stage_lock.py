"""The stage lock's cost: request-to-first-step latency on an idle Stage, and promotions per
minute through one Stage.

(a) Latency. A Stage whose only step is `compose-output` (one key), idle; N times in a
    row: `Gantry.promote` then await the result. Reported, median over the runs:
    - client side: wall clock before the `promote` call -> the first step's
      ACTIVITY_TASK_STARTED event time (the server's clock; server and client run on the
      same host here, so both are the same system clock);
    - server side, from the workflow history: WORKFLOW_EXECUTION_STARTED -> the first
      step's ACTIVITY_TASK_STARTED (one clock);
    plus a breakdown of the server-side path: each activity before the step (queue and
    run time), the wait for the lock grant, and the workflow tasks between them.
    Target (issue 5): under 250 ms.
(b) Throughput. M promotions of M Freight to the same Stage requested at once; promotions
    per minute = M / (first step start -> last promotion finish), times from the results
    (workflow time, one clock). Plus where the time per promotion goes: the lock held
    (grant -> release) and the hand-over (release -> next grant), split by history
    events. Target: over 120 per minute.

Own dev server (temporary SQLite) on a free port, in-process workers.

Note: workflow code is loaded from this file's checkout while it runs; in a tree others
edit, run it from a snapshot (`git archive HEAD | tar -x -C /tmp/snap`, then
`.venv/bin/python /tmp/snap/bench/stage_lock.py`), or a mid-run edit can fail workflow tasks.

Run: .venv/bin/python bench/stage_lock.py [--runs 20] [--queue 60] [--db-dir /dev/shm]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402

from tests.pipelines import project_with_warehouse  # noqa: E402

IMAGE = "registry.bench/app"


def manifests(project: str) -> str:
    return project_with_warehouse(project, IMAGE) + f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: noop
  namespace: {project}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      direct: true
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        as: out
        config:
          tag: ${{{{ imageFrom("{IMAGE}").Tag }}}}
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Timeline:
    """The events of one promotion's history that matter here, as epoch seconds."""

    workflow_id: str
    started: float = 0.0
    closed: float = 0.0
    #: activity type -> (scheduled, started, completed) of its first run
    activities: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    granted: float | None = None  # lock_granted signal received
    release_sent: float | None = None  # release signal command recorded
    project_signal_sent: float | None = None
    project_signaled: float | None = None  # the project's signal delivered (the await returns after)
    wft: list[tuple[float, float, float]] = field(default_factory=list)  # scheduled, started, completed

    def act(self, name: str, which: int) -> float | None:
        found = self.activities.get(name)
        return found[which] if found else None


async def timeline(handle) -> Timeline:
    tl = Timeline(handle.id)
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    wft_sched: float | None = None
    wft_start: float | None = None
    initiated: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        t = event.event_time.ToNanoseconds() / 1e9
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            tl.started = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            tl.closed = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_sched = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft_start = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tl.wft.append((wft_sched or t, wft_start or t, t))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, t)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = t
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            name, t0 = scheduled[sid]
            tl.activities.setdefault(name, (t0, started.get(sid, t0), t))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if event.workflow_execution_signaled_event_attributes.signal_name == "lock_granted" and tl.granted is None:
                tl.granted = t
        elif kind == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            attrs = event.signal_external_workflow_execution_initiated_event_attributes
            initiated[event.event_id] = attrs.signal_name
            if attrs.signal_name == "release":
                tl.release_sent = t
            elif attrs.signal_name == "promotion_finished":
                tl.project_signal_sent = t
        elif kind == EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.external_workflow_execution_signaled_event_attributes
            if initiated.get(attrs.initiated_event_id) == "promotion_finished":
                tl.project_signaled = t
    return tl


def print_rows(rows: list[tuple[str, list[float]]], indent: str = "  ") -> None:
    for label, values in rows:
        values = [v for v in values if v is not None]
        if values:
            print(f"{indent}{label:52s} {ms(med(values))}   (min {ms(min(values)).strip()}, max {ms(max(values)).strip()})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured promotions on the idle Stage (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured promotions first (default 3)")
    parser.add_argument("--queue", type=int, default=60, help="promotions queued at once for throughput (default 60)")
    parser.add_argument("--db-dir", type=Path, help="directory for the dev server's SQLite file (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    me = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, me.cancel)  # so `finally` stops the server

    tmp = Path(tempfile.mkdtemp(prefix="gantry-bench-lock-"))
    os.environ["GANTRY_WORK_DIR"] = str(tmp / "work")
    from client.api import Gantry
    from client.applying import plan_apply
    from client.devserver import DevServer, ensure_search_attributes, free_port
    from client.manifests import LoadedManifests
    from client.settings import TemporalSettings
    from client.worker import build_workers
    from pipeline.manifests import parse_documents

    db_dir = Path(tempfile.mkdtemp(prefix="gantry-bench-db-", dir=args.db_dir)) if args.db_dir else tmp
    server = DevServer(db_file=db_dir / "temporal.db", port=free_port(), ui_port=None, log_file=tmp / "server.log").start()
    try:
        client = await TemporalSettings(address=server.address, namespace="default").connect_when_ready()
        await ensure_search_attributes(client)
        task_queue = "gantry-bench-lock"
        workers = build_workers(client, task_queue=task_queue, worker_id="bench-lock")
        running = [asyncio.create_task(w.run()) for w in workers]
        gantry = Gantry(client, task_queue)
        project, stage = "benchlock", "noop"
        plan = plan_apply(LoadedManifests(documents=parse_documents(manifests(project), "bench.yaml")))
        await gantry.apply(plan.documents)

        async def freight(tag: str) -> str:
            created = await gantry.create_freight(
                project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": tag}]}
            )
            return created["name"]

        # -- (a) latency on an idle Stage ---------------------------------------------
        client_side: list[float] = []
        call_times: list[float] = []
        server_side: list[float] = []
        status_side: list[float] = []
        timelines: list[Timeline] = []
        for i in range(args.warmup + args.runs):
            name = await freight(f"1.0.{i}")
            lock = await gantry.stage_lock(project, stage)
            assert lock is None or (lock.holder is None and not lock.queue), f"stage not idle: {lock}"
            t0 = time.time()
            handle = await gantry.promote(project, stage, name)
            t_call = time.time() - t0
            status = await asyncio.wait_for(handle.result(), 60)
            if status.phase != "Succeeded":
                raise SystemExit(f"promotion {i} ended {status.phase}: {status.message}")
            if i < args.warmup:
                continue
            tl = await timeline(handle)
            first = tl.act(status.steps[0].uses, 1)
            assert first is not None
            client_side.append(first - t0)
            call_times.append(t_call)
            server_side.append(first - tl.started)
            status_side.append((status.steps[0].started_at - status.started_at).total_seconds())
            timelines.append(tl)

        print(f"(a) promotion request -> first step start, Stage idle, 1 compose-output step, {args.runs} runs (median)")
        print(f"  client: before Gantry.promote -> step ACTIVITY_TASK_STARTED {ms(med(client_side))}"
              f"   (min {ms(min(client_side)).strip()}, max {ms(max(client_side)).strip()})   target < 250 ms: "
              f"{'met' if med(client_side) < 0.25 else 'NOT met'}")
        print(f"    of which the Gantry.promote call itself (get_freight query + start_workflow) {ms(med(call_times))}")
        print(f"  server: WORKFLOW_EXECUTION_STARTED -> step ACTIVITY_TASK_STARTED {ms(med(server_side))}"
              f"   target < 250 ms: {'met' if med(server_side) < 0.25 else 'NOT met'}")
        print(f"  (workflow clock: status.started_at -> steps[0].started_at {ms(med(status_side))}; the step's record"
              " is stamped when its activity is scheduled)")
        print("  server-side path, by history events (median):")
        rows: list[tuple[str, list[float]]] = []

        def seg(label: str, f) -> None:
            values = []
            for tl in timelines:
                try:
                    v = f(tl)
                except TypeError:  # a missing event
                    v = None
                values.append(v)
            rows.append((label, values))

        step = "compose-output"
        seg("start -> load_promotion_context scheduled", lambda t: t.act("load_promotion_context", 0) - t.started)
        seg("load_promotion_context queue (sched -> started)", lambda t: t.act("load_promotion_context", 1) - t.act("load_promotion_context", 0))
        seg("load_promotion_context run (started -> completed)", lambda t: t.act("load_promotion_context", 2) - t.act("load_promotion_context", 1))
        seg("-> request_stage_lock scheduled (WFT)", lambda t: t.act("request_stage_lock", 0) - t.act("load_promotion_context", 2))
        seg("request_stage_lock queue", lambda t: t.act("request_stage_lock", 1) - t.act("request_stage_lock", 0))
        seg("request_stage_lock run (signal-with-start the stage)", lambda t: t.act("request_stage_lock", 2) - t.act("request_stage_lock", 1))
        seg("request_stage_lock completed -> lock_granted signal", lambda t: t.granted - t.act("request_stage_lock", 2))
        seg("lock_granted -> claim_worker scheduled (WFT)", lambda t: t.act("claim_worker", 0) - t.granted)
        seg("claim_worker sched -> completed", lambda t: t.act("claim_worker", 2) - t.act("claim_worker", 0))
        seg("-> step scheduled (WFT)", lambda t: t.act(step, 0) - t.act("claim_worker", 2))
        seg("step queue (sched -> started)", lambda t: t.act(step, 1) - t.act(step, 0))
        print_rows(rows, "    ")
        wft_lat = [s - q for tl in timelines for q, s, _ in tl.wft]
        wft_run = [c - s for tl in timelines for _, s, c in tl.wft]
        print(f"    every workflow task: queue {ms(med(wft_lat)).strip()}, run {ms(med(wft_run)).strip()} (median over all"
              f" {len(wft_lat)} tasks); workflow tasks per promotion: {med([len(t.wft) for t in timelines]):.0f}")
        print(f"  whole promotion, start -> close (history) {ms(med([t.closed - t.started for t in timelines]))}")
        print()

        # -- (b) throughput through one Stage --------------------------------------------
        names = [await freight(f"2.0.{i}") for i in range(args.queue)]
        t0 = time.time()
        handles = await asyncio.gather(*(gantry.promote(project, stage, n) for n in names))
        t_queued = time.time() - t0
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 30 * 60)
        t_all = time.time() - t0
        bad = [r for r in results if r.phase != "Succeeded"]
        if bad:
            raise SystemExit(f"{len(bad)} promotions did not succeed, e.g. {bad[0].phase}: {bad[0].message}")
        first_start = min(r.steps[0].started_at for r in results)
        last_finish = max(r.finished_at for r in results)
        span = (last_finish - first_start).total_seconds()
        rate = args.queue / span * 60
        spans = sorted((r.steps[0].started_at, r.steps[-1].finished_at) for r in results)
        overlaps = sum(1 for (_, end_a), (start_b, _) in zip(spans, spans[1:]) if start_b < end_a)
        print(f"(b) {args.queue} promotions queued at once for one Stage (1 compose-output step each)")
        print(f"  queued (all Gantry.promote calls returned) in {t_queued:.2f} s; all results after {t_all:.2f} s (client)")
        print(f"  first step start -> last finish: {span:.2f} s  =>  {rate:.0f} promotions per minute"
              f"   target > 120/min: {'met' if rate > 120 else 'NOT met'}")
        print(f"  steps overlapping another promotion's step: {overlaps} (must be 0)")

        tls = sorted([await timeline(h) for h in handles], key=lambda t: t.granted or 0)
        rows = []
        per = []
        for a, b in zip(tls, tls[1:]):
            if a.release_sent and b.granted:
                per.append(b.granted - a.granted)
        rows.append(("grant -> next grant (one promotion's turn)", per))
        rows.append(("  lock held: lock_granted -> release signal sent", [t.release_sent - t.granted for t in tls if t.release_sent and t.granted]))

        def held(label: str, f) -> None:
            values = []
            for tl in tls:
                try:
                    values.append(f(tl))
                except TypeError:
                    pass
            rows.append(("    " + label, values))

        held("lock_granted -> claim_worker scheduled (WFT)", lambda t: t.act("claim_worker", 0) - t.granted)
        held("claim_worker sched -> completed", lambda t: t.act("claim_worker", 2) - t.act("claim_worker", 0))
        held("-> step sched -> completed", lambda t: t.act(step, 2) - t.act("claim_worker", 2))
        held("-> project signal and release sent, one WFT", lambda t: t.release_sent - t.act(step, 2))
        rows.append(("  hand-over: release sent -> next lock_granted", [b.granted - a.release_sent for a, b in zip(tls, tls[1:]) if a.release_sent and b.granted]))
        print("  per promotion, by history events (median):")
        print_rows(rows, "    ")
        act_q: dict[str, list[float]] = defaultdict(list)
        act_r: dict[str, list[float]] = defaultdict(list)
        for tl in tls:
            for name, (s, st, c) in tl.activities.items():
                act_q[name].append(st - s)
                act_r[name].append(c - st)
        print("  activities under load (median queue / run):")
        for name in sorted(act_q, key=lambda n: -med(act_q[n]) - med(act_r[n])):
            print(f"    {name:28s} queue {ms(med(act_q[name]))}   run {ms(med(act_r[name]))}")
        wft_lat = [s - q for tl in tls for q, s, _ in tl.wft]
        wft_run = [c - s for tl in tls for _, s, c in tl.wft]
        print(f"  workflow tasks under load: queue {ms(med(wft_lat)).strip()}, run {ms(med(wft_run)).strip()} (median),"
              f" {med([len(t.wft) for t in tls]):.0f} per promotion")

        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in running:
            task.cancel()
    finally:
        server.stop()
        if args.db_dir:
            shutil.rmtree(db_dir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    asyncio.run(main())
