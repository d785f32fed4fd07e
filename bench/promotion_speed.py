"""Promotion speed (issue 16): every figure the issue names, side by side from one run, each
target line ending in "met" or "NOT met".

1. Steps: each step of the 6-step promotion (git-clone, kustomize-set-image, yaml-update,
   kustomize-build, git-commit, git-push into a local bare repository): its activity's run
   time (history ACTIVITY_TASK_STARTED -> ACTIVITY_TASK_COMPLETED) against the same commands
   run bare, each alone (`git clone`; each `sed -i` edit; `kustomize build` or `kubectl
   kustomize`; `git add --all` + `git commit`; `git push`). Medians; target each <= 1.2x.
2. Orchestration: the same promotion with six steps that do nothing (`compose-output`)
   against a bare Temporal workflow running six no-op activities (bench/bare_workflow.py:
   the workflow on one task queue, its activities on a second, as Gantry's steps run on the
   worker's own queue; same client, server and process). Client side, start -> result,
   medians; target <= 1.5x.
3. The whole 6-step promotion against a shell script doing the same work (client side,
   promote -> result; medians); target <= 2.0x.
4. The stage lock (bench/stage_lock.py): request -> first step start on an idle Stage
   (client side, median; target < 100 ms) and promotions per minute through one Stage with
   many queued at once (target > 300/min).
5. 20 Stages promoting at once on one worker, each into its own repository, a few rounds
   back to back: promotions per minute in all, request -> first step start (median, p95).
   No target: it shows how the cost grows with concurrent work.

1-3 run interleaved (promotion, script, bare commands, no-op promotion, bare workflow) after
unmeasured warm-up runs. One dev server (temporary SQLite) and in-process workers for all.
The machine's other work shows in the figures: compare ratios, not absolute times.

Run: .venv/bin/python bench/promotion_speed.py [--runs 15] [--quick] [--db-dir /dev/shm]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # the shared bench modules, and Gantry

from _gitops import GIT_ENV, IMAGE, NOOP_STEPS, SCRIPT, SED_OVERLAY, SED_VALUES, SIX_STEPS, git, make_remote, manifests, six_steps  # noqa: E402
from _harness import Bench, apply_manifests, dev_server_with_workers, med, ms, new_freight, p95, timeline, verdict  # noqa: E402
from bare_workflow import bare_workers, run_bare  # noqa: E402
from stage_lock import Latency, Throughput, apply_project, measure_latency, measure_throughput  # noqa: E402

STEP_TARGET = 1.2
FLOOR_TARGET = 1.5
SCRIPT_TARGET = 2.0
PROJECT = "speed"
FLEET = "fleet"
FLEET_SIZE = 20


def kustomize_command() -> list[str]:
    """What the kustomize-build step runs (activities/steps/kustomize_build.py), bare."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    raise SystemExit("promotion_speed needs `kustomize` or `kubectl` on PATH (the kustomize-build step does)")


def bare_steps(url: str, work: Path, tag: str, kustomize: list[str]) -> dict[str, float]:
    """Each step's equivalent commands, timed alone (seconds by step name)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src = work / "src"

    def timed(*commands: list[str], cwd: Path = src, into: Path | None = None) -> float:
        t0 = time.perf_counter()
        for command in commands:
            if into is None:
                subprocess.run(command, cwd=cwd, check=True, env=GIT_ENV)
            else:
                with into.open("w") as out:
                    subprocess.run(command, cwd=cwd, check=True, env=GIT_ENV, stdout=out)
        return time.perf_counter() - t0

    times = {"git-clone": timed(["git", "clone", "--quiet", "--branch", "main", url, "src"], cwd=work)}
    times["kustomize-set-image"] = timed(["sed", "-i", SED_OVERLAY.format(tag=tag), "env/dev/kustomization.yaml"])
    times["yaml-update"] = timed(["sed", "-i", SED_VALUES.format(tag=tag), "env/dev/values.yaml"])
    (src / "rendered").mkdir(exist_ok=True)
    times["kustomize-build"] = timed([*kustomize, "env/dev"], into=src / "rendered" / "dev.yaml")
    times["git-commit"] = timed(["git", "add", "--all"], ["git", "commit", "--quiet", "-m", f"Updated env/dev to {tag}"])
    times["git-push"] = timed(["git", "push", "--quiet", "origin", "main"])
    return times


@dataclass
class SideBySide:
    """Parts 1-3, per measured run."""

    promotion: list[float] = field(default_factory=list)  # promote -> result, client
    script: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)  # the no-op promotion, promote -> result
    bare: list[float] = field(default_factory=list)  # the bare workflow, start -> result
    eager: list[float] = field(default_factory=list)  # the same, its activities dispatched eagerly
    step_run: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    step_bare: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    promotion_history: list[float] = field(default_factory=list)  # start -> close
    floor_history: list[float] = field(default_factory=list)
    bare_history: list[float] = field(default_factory=list)
    floor_other: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # non-step activities, sched -> completed
    floor_local: list[str] = field(default_factory=list)  # local activities of the last no-op promotion
    floor_wfts: list[int] = field(default_factory=list)
    bare_wfts: list[int] = field(default_factory=list)


async def promote(bench: Bench, project: str, stage: str, freight: str, what: str) -> tuple[float, str]:
    """Promote and wait: (client-side seconds, workflow id)."""
    t0 = time.perf_counter()
    handle = await bench.gantry.promote(project, stage, freight)
    status = await handle.result()
    elapsed = time.perf_counter() - t0
    if status.phase != "Succeeded":
        raise SystemExit(f"{what} ended {status.phase}: {status.message}")
    return elapsed, handle.id


async def side_by_side(bench: Bench, runs: int, warmup: int) -> SideBySide:
    remotes = bench.tmp / "remotes"
    promo_remote, script_remote, bare_remote = (make_remote(remotes, n) for n in ("promotion", "script", "bare"))
    await apply_manifests(bench.gantry, manifests(PROJECT, {"dev": six_steps(promo_remote.as_uri()), "floor": NOOP_STEPS}))
    script = bench.tmp / "promote.sh"
    script.write_text(SCRIPT)
    kustomize = kustomize_command()
    out = SideBySide()
    for i in range(warmup + runs):
        measured = i >= warmup
        tag = f"1.0.{i}"
        name = await new_freight(bench.gantry, PROJECT, IMAGE, tag)
        elapsed, promo_id = await promote(bench, PROJECT, "dev", name, f"promotion {i}")
        t0 = time.perf_counter()
        subprocess.run(["bash", str(script), script_remote.as_uri(), str(bench.tmp / "script-work"), tag, "kustomize-build"], check=True, env=GIT_ENV)
        script_elapsed = time.perf_counter() - t0
        bare = bare_steps(bare_remote.as_uri(), bench.tmp / "bare-work", tag, kustomize)
        floor_elapsed, floor_id = await promote(bench, PROJECT, "floor", name, f"no-op promotion {i}")
        t0 = time.perf_counter()
        await run_bare(bench.client, f"bare-{i}")
        bare_elapsed = time.perf_counter() - t0
        t0 = time.perf_counter()
        await run_bare(bench.client, f"bare-eager-{i}", eager=True)
        eager_elapsed = time.perf_counter() - t0
        if not measured:
            continue
        out.promotion.append(elapsed)
        out.script.append(script_elapsed)
        out.floor.append(floor_elapsed)
        out.bare.append(bare_elapsed)
        out.eager.append(eager_elapsed)
        for step, seconds in bare.items():
            out.step_bare[step].append(seconds)
        tl = await timeline(bench.client, promo_id)
        out.promotion_history.append(tl.closed - tl.started)
        for a in tl.runs:
            if a.name in SIX_STEPS:
                out.step_run[a.name].append(a.run)
        tl = await timeline(bench.client, floor_id)
        out.floor_history.append(tl.closed - tl.started)
        out.floor_wfts.append(len(tl.wft))
        other: dict[str, float] = defaultdict(float)
        for a in tl.runs:
            if a.name != "compose-output":
                other[a.name] += a.completed - a.scheduled
        for activity_type, seconds in other.items():
            out.floor_other[activity_type].append(seconds)
        out.floor_local = tl.local
        tl = await timeline(bench.client, f"bare-{i}")
        out.bare_history.append(tl.closed - tl.started)
        out.bare_wfts.append(len(tl.wft))
    # the three repositories now hold the same content
    contents = {git("--git-dir", str(r), "show", "main:env/dev/values.yaml") for r in (promo_remote, script_remote, bare_remote)}
    assert len(contents) == 1, "the promotion, the script and the bare commands disagree"
    return out


@dataclass
class Fleet:
    """Part 5: every promotion of every Stage."""

    stages: int
    rounds: int
    first_step: list[float]  # request -> first step start
    whole: list[float]  # each promotion's start -> close (history)
    seconds: float  # first request -> last result (client)

    @property
    def rate(self) -> float:
        return self.stages * self.rounds / self.seconds * 60


async def fleet(bench: Bench, stages: int, rounds: int) -> Fleet:
    """``stages`` Stages, each into its own repository, each promoting ``rounds`` Freight one
    after the other; all Stages at once."""
    names = [f"s{n:02d}" for n in range(stages)]
    remotes = {n: make_remote(bench.tmp / "fleet", n) for n in names}
    await apply_manifests(bench.gantry, manifests(FLEET, {n: six_steps(remotes[n].as_uri()) for n in names}))
    freights = [await new_freight(bench.gantry, FLEET, IMAGE, f"3.0.{r}") for r in range(rounds)]
    requests: list[tuple[float, str, str]] = []

    async def one_stage(stage: str) -> float:
        for r, name in enumerate(freights):
            t0 = time.time()
            handle = await bench.gantry.promote(FLEET, stage, name)
            status = await handle.result()
            if status.phase != "Succeeded":
                raise SystemExit(f"{stage} round {r} ended {status.phase}: {status.message}")
            requests.append((t0, handle.id, status.steps[0].uses))
        return time.time()

    start = time.time()
    ends = await asyncio.gather(*(one_stage(n) for n in names))
    first_step, whole = [], []
    timelines = await asyncio.gather(*(timeline(bench.client, workflow_id) for _, workflow_id, _ in requests))
    for (t0, _, uses), tl in zip(requests, timelines):
        started = tl.first_start({uses})
        assert started is not None
        first_step.append(started - t0)
        whole.append(tl.closed - tl.started)
    return Fleet(stages, rounds, first_step, whole, max(ends) - start)


def checkout() -> str:
    """The commit measured, and whether the tree has uncommitted changes."""
    try:
        head = git("-C", str(BENCH.parent), "rev-parse", "--short", "HEAD").strip()
        dirty = git("-C", str(BENCH.parent), "status", "--porcelain", "--untracked-files=no").strip()
    except subprocess.CalledProcessError:  # a snapshot (git archive), as the benches advise
        return f"{BENCH.parent} (not a git checkout)"
    return head + (" + uncommitted changes" if dirty else "")


def report(s: SideBySide, lat: Latency, tp: Throughput, fl: Fleet, runs: int) -> None:
    load = os.getloadavg()[0]
    print(f"promotion speed (issue 16), code at {checkout()}: {runs} runs of each, interleaved, medians;"
          f" load average {load:.2f} on {os.cpu_count()} cores")  # fmt: skip
    print()
    print("1. each step: activity run time (ACTIVITY_TASK_STARTED -> COMPLETED) vs its commands run bare")
    print(f"   {'step':22s} {'step run':>11s} {'bare':>11s}   ratio   target <= {STEP_TARGET:.1f}x")
    for step in SIX_STEPS:
        if not s.step_run[step]:
            print(f"   {step:22s} no activity of this type in the promotion's history  NOT met")
            continue
        run, bare = med(s.step_run[step]), med(s.step_bare[step])
        ratio = run / bare
        print(f"   {step:22s} {ms(run)} {ms(bare)}   {ratio:5.2f}x  {verdict(ratio <= STEP_TARGET)}")
    run_sum = sum(med(s.step_run[st]) for st in SIX_STEPS if s.step_run[st])
    bare_sum = sum(med(s.step_bare[st]) for st in SIX_STEPS)
    print(f"   {'all six':22s} {ms(run_sum)} {ms(bare_sum)}   {run_sum / bare_sum:5.2f}x  (the script, one bash: {ms(med(s.script)).strip()})")
    print()
    floor, bare = med(s.floor), med(s.bare)
    print("2. orchestration: no-op 6-step promotion vs a bare Temporal workflow of 6 no-op activities (start -> result)")
    print(f"   Gantry {ms(floor).strip()}  bare {ms(bare).strip()}  ratio {floor / bare:.2f}x   target <= {FLOOR_TARGET:.1f}x  "
          f"{verdict(floor / bare <= FLOOR_TARGET)}")  # fmt: skip
    print(f"   (the bare workflow with its activities on its own queue, dispatched eagerly: {ms(med(s.eager)).strip()})")
    other = ", ".join(f"{n} {med(v) * 1000:.0f}" for n, v in sorted(s.floor_other.items(), key=lambda kv: -med(kv[1])))
    print(f"   history start -> close: Gantry {ms(med(s.floor_history)).strip()} in {med(s.floor_wfts):.0f} workflow tasks,"
          f" bare {ms(med(s.bare_history)).strip()} in {med(s.bare_wfts):.0f}")  # fmt: skip
    print(f"   Gantry's activities besides the steps (sched -> completed, ms): {other or 'none'}")
    if s.floor_local:
        print(f"   and its local activities (no queue, no workflow task of their own): {', '.join(s.floor_local)}")
    print()
    promo, script = med(s.promotion), med(s.script)
    print("3. whole 6-step promotion vs the same work as a shell script (promote -> result)")
    print(f"   promotion {ms(promo).strip()}  script {ms(script).strip()}  ratio {promo / script:.2f}x   target <= "
          f"{SCRIPT_TARGET:.1f}x  {verdict(promo / script <= SCRIPT_TARGET)}")  # fmt: skip
    print(f"   (history start -> close {ms(med(s.promotion_history)).strip()})")
    print()
    print("4. stage lock (bench/stage_lock.py for the breakdown)")
    print(f"   request -> first step start, Stage idle: {ms(med(lat.client_side)).strip()} (server side "
          f"{ms(med(lat.server_side)).strip()}), {len(lat.client_side)} runs   target < 100 ms  {verdict(lat.met)}")  # fmt: skip
    print(f"   {tp.queued} queued through one Stage: {tp.rate:.0f} promotions per minute (overlapping steps: {tp.overlaps})"
          f"   target > 300/min  {verdict(tp.met)}")  # fmt: skip
    print()
    print(f"5. {fl.stages} Stages promoting at once on one worker, {fl.rounds} round{'s' if fl.rounds > 1 else ''} ({fl.stages * fl.rounds} six-step promotions)")
    print(f"   {fl.rate:.0f} promotions per minute in all; request -> first step start median {ms(med(fl.first_step)).strip()},"
          f" p95 {ms(p95(fl.first_step)).strip()}, max {ms(max(fl.first_step)).strip()}")  # fmt: skip
    print(f"   each promotion start -> close (history): median {ms(med(fl.whole)).strip()}, p95 {ms(p95(fl.whole)).strip()}"
          f" (one at a time: {ms(med(s.promotion_history)).strip()})")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="measured runs of parts 1-3 (default 15; --quick 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke check: few runs of everything (under a minute)")
    parser.add_argument("--db-dir", type=Path, help="directory for the dev server's SQLite file (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 15)
    warmup, lock_runs, queue, rounds = (1, 5, 12, 1) if args.quick else (2, 20, 60, 3)
    kustomize_command()
    began = time.perf_counter()

    def progress(what: str) -> None:
        print(f"[{time.perf_counter() - began:5.1f} s] {what}", file=sys.stderr)

    async with dev_server_with_workers("gantry-speed-", db_dir=args.db_dir, keep=args.keep) as bench:
        bare = bare_workers(bench.client)
        running = [asyncio.create_task(w.run()) for w in bare]
        try:
            progress("parts 1-3: steps, orchestration and script, side by side")
            side = await side_by_side(bench, runs, warmup)
            progress("part 4: the stage lock")
            await apply_project(bench.gantry)
            lat = await measure_latency(bench.client, bench.gantry, runs=lock_runs, warmup=warmup)
            tp = await measure_throughput(bench.client, bench.gantry, queue=queue)
            progress(f"part 5: {FLEET_SIZE} Stages at once")
            fl = await fleet(bench, FLEET_SIZE, rounds)
            progress("done; stopping the workers and the server")
        finally:
            await asyncio.gather(*(w.shutdown() for w in bare), return_exceptions=True)
            for task in running:
                task.cancel()
    print(file=sys.stderr)
    report(side, lat, tp, fl, runs)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except asyncio.CancelledError:  # SIGTERM: the server and the temporary files are gone already
        raise SystemExit("promotion_speed: stopped by SIGTERM") from None
