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
    Target (issue 16): under 100 ms.
(b) Throughput. M promotions of M Freight to the same Stage requested at once; promotions
    per minute = M / (first step start -> last promotion finish), times from the results
    (workflow time, one clock). Plus where the time per promotion goes: the lock held
    (grant -> release) and the hand-over (release -> next grant), split by history
    events. Target (issue 16): over 300 per minute.

Own dev server (temporary SQLite) on a free port, in-process workers. bench/promotion_speed.py
runs (a) and (b) too, on its own server (`measure_latency`, `measure_throughput`).

Note: workflow code is loaded from this file's checkout while it runs; in a tree others
edit, run it from a snapshot (`git archive HEAD | tar -x -C /tmp/snap`, then
`.venv/bin/python /tmp/snap/bench/stage_lock.py`), or a mid-run edit can fail workflow tasks.

Run: .venv/bin/python bench/stage_lock.py [--runs 20] [--queue 60] [--db-dir /dev/shm]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # the shared bench modules, and Gantry

from _gitops import IMAGE  # noqa: E402
from _gitops import manifests as stage_manifests  # noqa: E402
from _harness import Timeline, apply_manifests, dev_server_with_workers, med, ms, new_freight, timeline, verdict  # noqa: E402

PROJECT, STAGE = "benchlock", "noop"
STEP = "compose-output"
#: issue 16's targets: request -> first step on an idle Stage, promotions per minute through one Stage
LATENCY_TARGET = 0.100
RATE_TARGET = 300


def manifests(project: str) -> str:
    return stage_manifests(project, {STAGE: f"""      - uses: {STEP}
        as: out
        config:
          tag: ${{{{ imageFrom("{IMAGE}").Tag }}}}
"""})


async def apply_project(gantry: Any, project: str = PROJECT) -> None:
    await apply_manifests(gantry, manifests(project))


@dataclass
class Latency:
    """(a), per measured promotion."""

    client_side: list[float]  # before Gantry.promote -> step ACTIVITY_TASK_STARTED
    call_times: list[float]  # the Gantry.promote call itself
    server_side: list[float]  # WORKFLOW_EXECUTION_STARTED -> step ACTIVITY_TASK_STARTED
    status_side: list[float]  # the status's started_at -> steps[0].started_at
    timelines: list[Timeline]

    @property
    def met(self) -> bool:
        return med(self.client_side) < LATENCY_TARGET


async def measure_latency(client: Any, gantry: Any, *, runs: int, warmup: int, project: str = PROJECT) -> Latency:
    """``warmup`` then ``runs`` promotions one after the other on the idle Stage."""
    lat = Latency([], [], [], [], [])
    for i in range(warmup + runs):
        name = await new_freight(gantry, project, IMAGE, f"1.0.{i}")
        lock = await gantry.stage_lock(project, STAGE)
        assert lock is None or (lock.holder is None and not lock.queue), f"stage not idle: {lock}"
        t0 = time.time()
        handle = await gantry.promote(project, STAGE, name)
        t_call = time.time() - t0
        status = await asyncio.wait_for(handle.result(), 60)
        if status.phase != "Succeeded":
            raise SystemExit(f"promotion {i} ended {status.phase}: {status.message}")
        if i < warmup:
            continue
        tl = await timeline(client, handle.id)
        first = tl.first_start({status.steps[0].uses})
        assert first is not None
        lat.client_side.append(first - t0)
        lat.call_times.append(t_call)
        lat.server_side.append(first - tl.started)
        lat.status_side.append((status.steps[0].started_at - status.started_at).total_seconds())
        lat.timelines.append(tl)
    return lat


@dataclass
class Throughput:
    """(b): ``queued`` promotions requested at once for the one Stage."""

    queued: int
    t_queued: float  # all Gantry.promote calls returned (client)
    t_all: float  # all results (client)
    span: float  # first step start -> last finish (workflow time)
    overlaps: int  # steps overlapping another promotion's step: must be 0
    timelines: list[Timeline]  # in grant order

    @property
    def rate(self) -> float:
        return self.queued / self.span * 60

    @property
    def met(self) -> bool:
        return self.rate > RATE_TARGET


async def measure_throughput(client: Any, gantry: Any, *, queue: int, project: str = PROJECT) -> Throughput:
    names = [await new_freight(gantry, project, IMAGE, f"2.0.{i}") for i in range(queue)]
    t0 = time.time()
    handles = await asyncio.gather(*(gantry.promote(project, STAGE, n) for n in names))
    t_queued = time.time() - t0
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 30 * 60)
    t_all = time.time() - t0
    bad = [r for r in results if r.phase != "Succeeded"]
    if bad:
        raise SystemExit(f"{len(bad)} promotions did not succeed, e.g. {bad[0].phase}: {bad[0].message}")
    first_start = min(r.steps[0].started_at for r in results)
    last_finish = max(r.finished_at for r in results)
    spans = sorted((r.steps[0].started_at, r.steps[-1].finished_at) for r in results)
    overlaps = sum(1 for (_, end_a), (start_b, _) in zip(spans, spans[1:]) if start_b < end_a)
    tls = sorted(await asyncio.gather(*(timeline(client, h.id) for h in handles)), key=lambda t: t.granted or 0)
    return Throughput(queue, t_queued, t_all, (last_finish - first_start).total_seconds(), overlaps, tls)


def print_rows(rows: list[tuple[str, list[float | None]]], indent: str = "  ") -> None:
    for label, values in rows:
        present = [v for v in values if v is not None]
        if present:
            print(f"{indent}{label:52s} {ms(med(present))}   (min {ms(min(present)).strip()}, max {ms(max(present)).strip()})")


def segments(timelines: list[Timeline], specs: list[tuple[str, Any]]) -> list[tuple[str, list[float | None]]]:
    """Each (label, f) as (label, f of every timeline), None where an event is missing."""
    rows: list[tuple[str, list[float | None]]] = []
    for label, f in specs:
        values: list[float | None] = []
        for tl in timelines:
            try:
                values.append(f(tl))
            except TypeError:  # a missing event
                values.append(None)
        rows.append((label, values))
    return rows


def print_latency(lat: Latency) -> None:
    cs = lat.client_side
    print(f"(a) promotion request -> first step start, Stage idle, 1 {STEP} step, {len(cs)} runs (median)")
    print(f"  client: before Gantry.promote -> step ACTIVITY_TASK_STARTED {ms(med(cs))}"
          f"   (min {ms(min(cs)).strip()}, max {ms(max(cs)).strip()})   target < {LATENCY_TARGET * 1000:.0f} ms: "
          f"{verdict(lat.met)}")  # fmt: skip
    print(f"    of which the Gantry.promote call itself (get_freight query + start_workflow) {ms(med(lat.call_times))}")
    print(f"  server: WORKFLOW_EXECUTION_STARTED -> step ACTIVITY_TASK_STARTED {ms(med(lat.server_side))}"
          f"   target < {LATENCY_TARGET * 1000:.0f} ms: {verdict(med(lat.server_side) < LATENCY_TARGET)}")  # fmt: skip
    print(f"  (workflow clock: status.started_at -> steps[0].started_at {ms(med(lat.status_side))}; the step's record"
          " is stamped when its activity is scheduled)")  # fmt: skip
    print("  server-side path, by history events (median):")
    print_rows(segments(lat.timelines, [
        ("start -> load_promotion_context scheduled", lambda t: t.act("load_promotion_context", 0) - t.started),
        ("load_promotion_context queue (sched -> started)", lambda t: t.act("load_promotion_context", 1) - t.act("load_promotion_context", 0)),
        ("load_promotion_context run (started -> completed)", lambda t: t.act("load_promotion_context", 2) - t.act("load_promotion_context", 1)),
        ("-> request_stage_lock scheduled (WFT)", lambda t: t.act("request_stage_lock", 0) - t.act("load_promotion_context", 2)),
        ("request_stage_lock queue", lambda t: t.act("request_stage_lock", 1) - t.act("request_stage_lock", 0)),
        ("request_stage_lock run (signal-with-start the stage)", lambda t: t.act("request_stage_lock", 2) - t.act("request_stage_lock", 1)),
        ("request_stage_lock completed -> lock_granted signal", lambda t: t.granted - t.act("request_stage_lock", 2)),
        ("lock_granted -> claim_worker scheduled (WFT)", lambda t: t.act("claim_worker", 0) - t.granted),
        ("claim_worker sched -> completed", lambda t: t.act("claim_worker", 2) - t.act("claim_worker", 0)),
        ("-> step scheduled (WFT)", lambda t: t.act(STEP, 0) - t.act("claim_worker", 2)),
        ("step queue (sched -> started)", lambda t: t.act(STEP, 1) - t.act(STEP, 0)),
    ]), "    ")  # fmt: skip
    print_wfts(lat.timelines, "every workflow task", "    ")
    print(f"  whole promotion, start -> close (history) {ms(med([t.closed - t.started for t in lat.timelines]))}")


def print_wfts(tls: list[Timeline], label: str, indent: str) -> None:
    queue = [s - q for tl in tls for q, s, _ in tl.wft]
    run = [c - s for tl in tls for _, s, c in tl.wft]
    print(f"{indent}{label}: queue {ms(med(queue)).strip()}, run {ms(med(run)).strip()} (median over all"
          f" {len(queue)} tasks); workflow tasks per promotion: {med([len(t.wft) for t in tls]):.0f}")  # fmt: skip


def print_throughput(tp: Throughput) -> None:
    tls = tp.timelines
    print(f"(b) {tp.queued} promotions queued at once for one Stage (1 {STEP} step each)")
    print(f"  queued (all Gantry.promote calls returned) in {tp.t_queued:.2f} s; all results after {tp.t_all:.2f} s (client)")
    print(f"  first step start -> last finish: {tp.span:.2f} s  =>  {tp.rate:.0f} promotions per minute"
          f"   target > {RATE_TARGET}/min: {verdict(tp.met)}")  # fmt: skip
    print(f"  steps overlapping another promotion's step: {tp.overlaps} (must be 0)")
    pairs = list(zip(tls, tls[1:]))
    rows: list[tuple[str, list[float | None]]] = [
        ("grant -> next grant (one promotion's turn)", [b.granted - a.granted for a, b in pairs if a.release_sent and b.granted]),
        ("  lock held: lock_granted -> release signal sent", [t.release_sent - t.granted for t in tls if t.release_sent and t.granted]),
    ]  # fmt: skip
    rows += segments(tls, [
        ("    lock_granted -> claim_worker scheduled (WFT)", lambda t: t.act("claim_worker", 0) - t.granted),
        ("    claim_worker sched -> completed", lambda t: t.act("claim_worker", 2) - t.act("claim_worker", 0)),
        ("    -> step sched -> completed", lambda t: t.act(STEP, 2) - t.act("claim_worker", 2)),
        ("    -> project signal and release sent, one WFT", lambda t: t.release_sent - t.act(STEP, 2)),
    ])  # fmt: skip
    rows.append(("  hand-over: release sent -> next lock_granted", [b.granted - a.release_sent for a, b in pairs if a.release_sent and b.granted]))
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
    print_wfts(tls, "workflow tasks under load", "  ")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured promotions on the idle Stage (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured promotions first (default 3)")
    parser.add_argument("--queue", type=int, default=60, help="promotions queued at once for throughput (default 60)")
    parser.add_argument("--db-dir", type=Path, help="directory for the dev server's SQLite file (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    async with dev_server_with_workers("gantry-bench-lock-", db_dir=args.db_dir, keep=args.keep) as bench:
        await apply_project(bench.gantry)
        print_latency(await measure_latency(bench.client, bench.gantry, runs=args.runs, warmup=args.warmup))
        print()
        print_throughput(await measure_throughput(bench.client, bench.gantry, queue=args.queue))


if __name__ == "__main__":
    asyncio.run(main())
