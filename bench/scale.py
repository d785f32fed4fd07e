"""Scale, measured (issue #11 item 7): one project with 200 Stages, 10,000 Freight and 2,000
verification runs; how the latencies people feel and the payloads Temporal carries change
between 100, 1,000 and 10,000 Freight.

Setup: an own dev server (temporary SQLite, free port) and one worker process
(`python worker.py` of this checkout) on its own task queue. A project with a Warehouse
(`app`, an image nobody serves, checked once an hour) and `--stages` Stages in a DAG: `s000`
takes Freight directly, a first layer of about sqrt(N) Stages takes it from `s000`, and the
rest (the second layer) from the first layer's Stages, round robin. Each Stage promotes with
one `compose-output` step (no git) and is verified by an AnalysisTemplate with one `web`
metric, a single measurement against a loopback HTTP server in this process.

Freight: one image each (`registry.bench/app:1.<i//1000>.<i%1000>`), made through the Python
API (`Gantry.create_freight`, `--concurrency` at a time) up to each checkpoint (100, 1,000,
`--freight`). Verification runs: `--verifications` / `--stages` waves (rounded up), spread
over the checkpoints (10 %, 40 %, 100 % of them done by each); a wave takes the newest
Freight through every Stage, layer by layer (`s000`, then the first layer at once, then the
second layer, `--parallel` at a time), so each promotion runs one verification.

One Freight promoted to many Stages at once is one busy FreightWorkflow: every promotion
records entered and verified on it. As updates, 60 at a time met the server's limit of 10
updates in flight per workflow: a wave of 200 took 544 s at 34da1dd; they are sent by
signal now (`FreightStore.record`): 60-67 s at dc48efc. `--parallel` stays 8 by default so waves compare with
earlier runs.

At each checkpoint, once the project and every Stage have been idle for `--settle` seconds,
repeated and the median printed:
- apply: `Gantry.apply` of the same manifests again;
- get freight: the first page of 100 (`Gantry.freight_page`), and one Freight by alias
  (`Gantry.get_freight`);
- get stage: `Gantry.stages`, and one second-layer Stage's history (`Gantry.stage_history`)
  and lock (`Gantry.stage_lock`);
- promotion request -> first step, as bench/stage_lock.py measures it: wall clock before
  `Gantry.promote` -> the step's ACTIVITY_TASK_STARTED in the promotion's history (`s000`,
  idle, a different Freight each time; each of these runs a verification too, counted);
- the largest payload: the largest event in the histories of the ProjectWorkflow, every
  StageWorkflow, the WarehouseWorkflow, a sample of FreightWorkflows and the probe
  promotions, and the largest query result fetched (as JSON);
- the history length of the long-lived workflows (project, Stages max/median, Warehouse),
  of their current run, and how many runs each has had (continue-as-new).
Targets: every latency at the last checkpoint within 1.5x its value at 100 Freight; the
largest payload under 512 KB.

Measured (dbbd234, shared 2-core machine, the full run: 10,000 Freight, 2,036 verification
runs, 25 minutes): 100 -> 10,000 Freight apply 308 -> 301 ms, first page 102 -> 133 ms, by
alias 7.6 -> 12.8 ms, Gantry.stages 15 -> 29 ms, one Stage's history + lock 35 -> 75 ms,
request -> first step 187 -> 245 ms; largest payload 368 KB (the project's continue-as-new
input). With no waves between the checkpoints (`--freight 3000 --verifications 200`) every
latency at 3,000 is within 0.86-1.04x of its value at 100. docs/architecture.md "Scale" says
what these figures do and do not show.

Note: the worker runs the code of this file's checkout; in a tree others edit, run it from a
snapshot (`git archive HEAD | tar -x -C /tmp/snap`, then `.venv/bin/python
/tmp/snap/bench/scale.py`).

Run: .venv/bin/python bench/scale.py [--freight 10000] [--stages 200] [--verifications 2000]
     [--quick] [--concurrency 16] [--parallel 40] [--db-dir /dev/shm] [--keep]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType

from client.worker import max_cached_workflows
from tests.workerproc import WorkerProcess

IMAGE = "registry.bench/app"
PROJECT = "scale"
KB = 1024


# -- pieces ------------------------------------------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def start_http() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/ok"


def layout(stages: int) -> tuple[list[str], dict[str, str]]:
    """Stage names and each one's upstream: s000 direct, a first layer of ~sqrt(N) from it,
    the rest from the first layer, round robin."""
    names = [f"s{i:03d}" for i in range(stages)]
    first = max(1, round(math.sqrt(stages - 1))) if stages > 1 else 0
    upstream: dict[str, str] = {}
    for i, name in enumerate(names[1:], start=1):
        upstream[name] = names[0] if i <= first else names[1 + (i - first - 1) % first]
    return names, upstream


def manifests(stages: list[str], upstream: dict[str, str], url: str) -> str:
    docs = [
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {PROJECT}\n",
        f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {PROJECT}}}
spec:
  interval: 1h
  subscriptions: [{{image: {{repoURL: {IMAGE}}}}}]
""",
        f"""apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: ok, namespace: {PROJECT}}}
spec:
  metrics:
  - name: ok
    successCondition: result == true
    provider:
      web:
        url: {url}
        jsonPath: "{{$.ok}}"
""",
    ]
    for name in stages:
        sources = "direct: true" if name not in upstream else f"stages: [{upstream[name]}]"
        docs.append(f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {name}, namespace: {PROJECT}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{{sources}}}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        as: out
        config:
          tag: ${{{{ imageFrom("{IMAGE}").Tag }}}}
  verification:
    analysisTemplates: [{{name: ok}}]
""")
    return "---\n".join(docs)


def tag(i: int) -> str:
    return f"1.{i // 1000}.{i % 1000}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def size(n: float) -> str:
    return f"{n / KB:.1f} KB"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def json_size(value: Any) -> int:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    elif hasattr(value, "items") and not isinstance(value, dict):  # a FreightPage
        value = value.items
    return len(json.dumps(value, default=str).encode())


@dataclass
class HistoryFacts:
    length: int = 0
    largest: int = 0
    largest_kind: str = ""
    #: the run's input (a long-lived workflow's carried state), for state_parts
    start_input: bytes = b""


async def history_facts(handle) -> HistoryFacts:
    facts = HistoryFacts()
    async for event in handle.fetch_history_events():
        facts.length += 1
        n = event.ByteSize()
        if n > facts.largest:
            facts.largest, facts.largest_kind = n, EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            facts.start_input = payloads[0].data if payloads else b""
    return facts


def state_parts(start_input: bytes) -> str:
    """What a ProjectWorkflow carries across continue-as-new, the largest parts first."""
    try:
        state = (json.loads(start_input) or {}).get("state") or {}
    except ValueError:
        return "not JSON"
    flat = {k: v for k, v in state.items() if k != "catalog"}
    flat.update({f"catalog.{k}": v for k, v in (state.get("catalog") or {}).items()})
    parts = sorted(((json_size(v), k) for k, v in flat.items()), reverse=True)
    return ", ".join(f"{k} {size(n)}" for n, k in parts[:5] if n > 2)


async def first_step_started(handle, step: str = "compose-output") -> float | None:
    async for event in handle.fetch_history_events():
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name == step
        ):
            scheduled = event.event_id
            break
    else:
        return None
    async for event in handle.fetch_history_events():
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.scheduled_event_id == scheduled
        ):
            return event.event_time.ToNanoseconds() / 1e9
    return None


@dataclass
class Checkpoint:
    freight: int
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: what -> (bytes, where)
    payloads: dict[str, tuple[int, str]] = field(default_factory=dict)
    histories: dict[str, str] = field(default_factory=dict)
    verification_runs: int = 0
    notes: list[str] = field(default_factory=list)

    def largest(self) -> tuple[int, str, str]:
        what, (n, where) = max(self.payloads.items(), key=lambda kv: kv[1][0])
        return n, what, where


# -- the run -----------------------------------------------------------------------------


class Bench:
    def __init__(self, gantry, documents, stages: list[str], upstream: dict[str, str], args):
        self.gantry = gantry
        self.client = gantry.client
        self.documents = documents
        self.stages = stages
        self.upstream = upstream
        self.args = args
        self.made: list[dict[str, Any]] = []  # oldest first
        self.verification_runs = 0
        self.promotions = 0
        self.query_sizes: dict[str, tuple[int, str]] = {}
        self.probe_handles: list[Any] = []
        self.rates: list[str] = []
        self.waved: set[str] = set()
        self.create_errors: list[str] = []  # create_freight calls that failed and were asked again

    def note_query(self, what: str, value: Any, where: str) -> None:
        n = json_size(value)
        if n > self.query_sizes.get(what, (0, ""))[0]:
            self.query_sizes[what] = (n, where)

    async def create_up_to(self, count: int) -> None:
        start = len(self.made)
        if count <= start:
            return
        semaphore = asyncio.Semaphore(self.args.concurrency)
        results: dict[int, dict[str, Any]] = {}

        async def make(i: int) -> None:
            from temporalio.service import RPCError

            async with semaphore:
                for attempt in range(4):  # the same artifacts give the same Freight: safe to ask again
                    try:
                        results[i] = await self.gantry.create_freight(
                            PROJECT,
                            {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": tag(i)}]},
                        )
                        return
                    except RPCError as err:
                        self.create_errors.append(f"{err.status.name}: {err.message[:80]}")
                        if attempt == 3:
                            raise

        t0 = time.monotonic()
        last = t0
        tasks = [asyncio.create_task(make(i)) for i in range(start, count)]
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=30)
            for task in done:
                task.result()  # raise the first failure
            if time.monotonic() - last >= 60 and pending:
                last = time.monotonic()
                made = count - start - len(pending)
                print(f"    ... {start + made} Freight, {made / (last - t0):.1f}/s", flush=True)
        elapsed = time.monotonic() - t0
        self.made += [results[i] for i in range(start, count)]
        rate = (count - start) / elapsed
        self.rates.append(f"Freight {start + 1}-{count}: {elapsed:.0f} s, {rate:.1f} Freight/s")
        print(f"  made Freight {start + 1}-{count} in {elapsed:.1f} s ({rate:.1f}/s, {self.args.concurrency} at a time)", flush=True)
        if self.create_errors:
            print(f"  create_freight failed and was asked again {len(self.create_errors)} times so far:"
                  f" {', '.join(sorted(set(self.create_errors))[:3])}", flush=True)

    async def promote(self, stage: str, freight: str) -> Any:
        handle = await self.gantry.promote(PROJECT, stage, freight)
        status = await asyncio.wait_for(handle.result(), 600)
        self.promotions += 1
        if status.verification_id:
            self.verification_runs += 1
        if status.phase != "Succeeded":
            raise SystemExit(f"promotion {status.name} ended {status.phase}: {status.message}")
        return handle, status

    async def wave(self) -> None:
        """The newest Freight no wave took yet through every Stage, layer by layer."""
        chosen = next(f for f in reversed(self.made) if f["name"] not in self.waved)
        self.waved.add(chosen["name"])
        freight = chosen["name"]
        t0 = time.monotonic()
        await self.promote(self.stages[0], freight)
        layers: list[list[str]] = [[s for s in self.stages[1:] if self.upstream[s] == self.stages[0]]]
        layers.append([s for s in self.stages[1:] if s not in layers[0]])
        semaphore = asyncio.Semaphore(self.args.parallel)

        async def one(stage: str) -> None:
            async with semaphore:
                await self.promote(stage, freight)

        for layer in layers:
            await asyncio.gather(*(one(s) for s in layer))
        elapsed = time.monotonic() - t0
        print(f"  wave: Freight {chosen['alias']} through {len(self.stages)} Stages in {elapsed:.1f} s"
              f" ({len(self.stages) / elapsed * 60:.0f} promotions/min)", flush=True)
        self.rates.append(f"wave of {len(self.stages)} promotions+verifications: {elapsed:.0f} s")

    async def timed(self, cp: Checkpoint, label: str, repeat: int, call: Callable[[int], Awaitable[Any]]) -> None:
        values = []
        for i in range(repeat):
            t0 = time.perf_counter()
            await call(i)
            values.append(time.perf_counter() - t0)
        cp.latencies[label] = values

    async def quiet(self, cp: Checkpoint) -> None:
        """Wait until nothing runs: after a wave the project still offers the verified Freight
        downstream and tells Freight they left their Stages, one activity each (400 per wave),
        and measuring meanwhile measures that work. Quiet: the project's and every Stage's
        history unchanged for `--settle` seconds (at most 5 minutes)."""
        ids = [f"project/{PROJECT}"] + [f"stage/{PROJECT}/{s}" for s in self.stages]
        started = time.monotonic()
        last: list[int] = []
        still_since = time.monotonic()
        while time.monotonic() - started < 300:
            lengths = []
            for workflow_id in ids:
                info = (await self.client.get_workflow_handle(workflow_id).describe()).raw_description
                lengths.append(info.workflow_execution_info.history_length)
            if lengths != last:
                last, still_since = lengths, time.monotonic()
            elif time.monotonic() - still_since >= self.args.settle:
                break
            await asyncio.sleep(0.5)
        cp.notes.append(f"quiet after {time.monotonic() - started:.0f} s (project and Stages idle {self.args.settle:.0f} s)")

    async def measure(self, count: int) -> Checkpoint:
        cp = Checkpoint(freight=count)
        await self.quiet(cp)
        g = self.gantry
        r = self.args.repeat
        leaf = self.stages[-1]

        await self.timed(cp, "apply (same manifests again)", r, lambda i: g.apply(self.documents))

        async def page(i: int) -> None:
            got = await g.freight_page(PROJECT, limit=100)
            if len(got.items) != min(100, count):
                cp.notes.append(f"first page had {len(got.items)} Freight, not {min(100, count)}")
            self.note_query("freight_page(limit=100)", got.items, "visibility (memos)")

        await self.timed(cp, "get freight: first page of 100", r, page)
        picks = random.Random(count).sample(self.made, min(len(self.made), r * 2))

        async def by_alias(i: int) -> None:
            got = await g.get_freight(PROJECT, picks[i]["alias"])
            assert got["name"] == picks[i]["name"]
            self.note_query("get_freight", got, "FreightWorkflow get")

        await self.timed(cp, "get freight: one by alias", len(picks), by_alias)

        async def stages(i: int) -> None:
            got = await g.stages(PROJECT)
            assert len(got) == len(self.stages)
            self.note_query("stages", got, "ProjectWorkflow stages")

        await self.timed(cp, "get stage: all Stages (Gantry.stages)", r, stages)

        async def history(i: int) -> None:
            got = await g.stage_history(PROJECT, leaf)
            self.note_query("stage_history", got, f"StageWorkflow {leaf} history")
            lock = await g.stage_lock(PROJECT, leaf)
            self.note_query("stage_lock", lock, f"StageWorkflow {leaf} lock")

        await self.timed(cp, f"get stage: {leaf} history + lock", r, history)

        async def read_manifests(i: int) -> None:
            await g.manifests(PROJECT)

        # not a target: what the CLI (get stages, warehouses) and garbage collection read (no longer
        # every Freight and verification: the narrow `downstream` and `auto_promotion` queries);
        # it grows with the Stages, not with the Freight
        await self.timed(cp, "project manifests query", r, read_manifests)
        manifests = await g.manifests(PROJECT)
        self.note_query("manifests", manifests, "ProjectWorkflow manifests (read by the CLI and garbage collection)")
        handle = self.client.get_workflow_handle(f"stage/{PROJECT}/{leaf}")
        self.note_query("stage history query", await handle.query("history"), f"StageWorkflow {leaf} history")

        # promotion request -> first step, s000 idle, a different Freight each time
        values = []
        fresh = [f for f in reversed(self.made) if f["name"] not in self.waved][: self.args.probes + 2]
        for i, freight in enumerate(fresh):
            lock = await g.stage_lock(PROJECT, self.stages[0])
            assert lock is None or (lock.holder is None and not lock.queue), f"s000 not idle: {lock}"
            t0 = time.time()
            probe, _ = await self.promote(self.stages[0], freight["name"])
            if i < 2:
                continue  # warm-up
            first = await first_step_started(probe)
            assert first is not None
            values.append(first - t0)
            self.probe_handles.append(probe)
        cp.latencies["promotion request -> first step (s000 idle)"] = values

        # payloads and history lengths
        project = self.client.get_workflow_handle(f"project/{PROJECT}")
        facts = await history_facts(project)
        cp.payloads["ProjectWorkflow history event"] = (facts.largest, facts.largest_kind)
        cp.notes.append(f"the project's continue-as-new input: {state_parts(facts.start_input)}")
        runs = await self.runs(f"project/{PROJECT}")
        cp.histories["project"] = f"{facts.length} events (run {runs})"

        stage_facts = {}
        for name in self.stages:
            stage_facts[name] = await history_facts(self.client.get_workflow_handle(f"stage/{PROJECT}/{name}"))
        biggest = max(stage_facts, key=lambda s: stage_facts[s].largest)
        cp.payloads["StageWorkflow history event"] = (
            stage_facts[biggest].largest, f"{stage_facts[biggest].largest_kind} of {biggest}"
        )
        lengths = sorted(f.length for f in stage_facts.values())
        longest = max(stage_facts, key=lambda s: stage_facts[s].length)
        cp.histories["stages"] = (
            f"max {lengths[-1]} ({longest}, run {await self.runs(f'stage/{PROJECT}/{longest}')}),"
            f" median {med(lengths):.0f}, min {lengths[0]}"
        )

        warehouse = self.client.get_workflow_handle(f"warehouse/{PROJECT}/app")
        try:
            wf = await history_facts(warehouse)
            cp.payloads["WarehouseWorkflow history event"] = (wf.largest, wf.largest_kind)
            cp.histories["warehouse"] = f"{wf.length} events (run {await self.runs(f'warehouse/{PROJECT}/app')})"
        except Exception as err:  # noqa: BLE001 - no warehouse run is a figure too
            cp.histories["warehouse"] = f"none ({err})"

        sample = random.Random(count + 1).sample(self.made, min(len(self.made), 20))
        sample += [f for f in self.made if f["name"] in self.waved][-1:]  # promoted through every Stage
        fl = 0
        where = ""
        lengths = []
        for freight in sample:
            ff = await history_facts(self.client.get_workflow_handle(f"freight/{PROJECT}/{freight['name']}"))
            lengths.append(ff.length)
            if ff.largest > fl:
                fl, where = ff.largest, f"{ff.largest_kind} of {freight['alias']}"
        cp.payloads[f"FreightWorkflow history event ({len(sample)} sampled)"] = (fl, where)
        cp.histories["freight (sample)"] = f"max {max(lengths)}, median {med(lengths):.0f}"

        pl = 0
        for probe in self.probe_handles[-self.args.probes :]:
            pf = await history_facts(probe)
            if pf.largest > pl:
                pl, where = pf.largest, f"{pf.largest_kind} of {probe.id.rsplit('/', 1)[-1]}"
        cp.payloads["PromotionWorkflow history event (probes)"] = (pl, where)
        for what, (n, source) in self.query_sizes.items():
            cp.payloads[f"query result: {what}"] = (n, source)
        cp.verification_runs = self.verification_runs
        return cp

    async def runs(self, workflow_id: str) -> int:
        return len([e async for e in self.client.list_workflows(f"WorkflowId='{workflow_id}'")])


def report(cp: Checkpoint, base: Checkpoint | None, promotions: int) -> None:
    print(f"\n== at {cp.freight} Freight, {cp.verification_runs} verification runs ({promotions} promotions) ==")
    for label, values in cp.latencies.items():
        m = med(values)
        line = f"  {label:48s} {ms(m):>10s}  (min {ms(min(values))}, max {ms(max(values))}, n={len(values)})"
        if base is not None and label in base.latencies:
            ratio = m / med(base.latencies[label])
            line += f"  {ratio:.2f}x of 100 {'ok' if ratio <= 1.5 else 'NOT within 1.5x'}"
        print(line)
    n, what, where = cp.largest()
    print(f"  largest payload: {size(n)} ({what}: {where})   target < 512 KB: {'met' if n < 512 * KB else 'NOT met'}")
    for what, (n, where) in sorted(cp.payloads.items(), key=lambda kv: -kv[1][0]):
        print(f"    {what:52s} {size(n):>10s}  {where}")
    print("  history length (current run):")
    for what, text in cp.histories.items():
        print(f"    {what:18s} {text}")
    for note in dict.fromkeys(cp.notes):
        print(f"  note: {note}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--freight", type=int, default=10_000, help="Freight at the last checkpoint (default 10000)")
    parser.add_argument("--stages", type=int, default=200, help="Stages in the DAG (default 200)")
    parser.add_argument("--verifications", type=int, default=2000, help="verification runs by waves (default 2000)")
    parser.add_argument("--quick", action="store_true", help="1,000 Freight, 20 Stages, 100 verification runs")
    parser.add_argument("--concurrency", type=int, default=16, help="Freight created at a time (default 16)")
    parser.add_argument("--parallel", type=int, default=8,
                        help="promotions at a time in a wave (default 8; see the docstring on more)")
    parser.add_argument("--repeat", type=int, default=10, help="repetitions of each read (default 10)")
    parser.add_argument("--probes", type=int, default=10, help="measured promotions per checkpoint (default 10)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds without a change to the project's or a Stage's history before measuring (default 5)")
    parser.add_argument("--db-dir", type=Path, help="directory for the dev server's SQLite file (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.quick:
        args.freight, args.stages, args.verifications = 1000, 20, 100
    checkpoints = sorted({c for c in (100, 1000, args.freight) if c <= args.freight})
    waves = math.ceil(args.verifications / args.stages)
    # cumulative waves done by each checkpoint: 10 %, 40 %, 100 % (at least one by the first)
    share = {100: 0.1, 1000: 0.4}
    waves_by = [max(1, round(waves * share.get(c, 1.0))) if c != checkpoints[-1] else waves for c in checkpoints]
    waves_by = [min(w, waves) for w in waves_by]

    me = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, me.cancel)  # so `finally` stops the server
    tmp = Path(tempfile.mkdtemp(prefix="gantry-bench-scale-"))
    from client.api import Gantry
    from client.applying import plan_apply
    from client.devserver import DevServer, ensure_search_attributes, free_port
    from client.manifests import LoadedManifests
    from client.settings import TemporalSettings
    from pipeline.manifests import parse_documents

    http, url = start_http()
    db_dir = Path(tempfile.mkdtemp(prefix="gantry-bench-db-", dir=args.db_dir)) if args.db_dir else tmp
    for attempt in range(5):  # a free port can be taken by someone else before the server binds it
        try:
            server = DevServer(
                db_file=db_dir / f"temporal-{attempt}.db", port=free_port(), ui_port=None, log_file=tmp / "server.log"
            ).start()
            break
        except RuntimeError:
            if attempt == 4:
                raise
    worker = None
    began = time.monotonic()
    try:
        client = await TemporalSettings(address=server.address, namespace="default").connect_when_ready()
        await ensure_search_attributes(client)
        task_queue = "gantry-bench-scale"
        worker = WorkerProcess(
            server.address, task_queue, "bench-scale", tmp / "work", tmp / "worker.log", env={"PYTHONPATH": None}
        ).start()
        gantry = Gantry(client, task_queue)
        stages, upstream = layout(args.stages)
        text = manifests(stages, upstream, url)
        documents = plan_apply(LoadedManifests(documents=parse_documents(text, "scale.yaml"))).documents
        await gantry.apply(documents)
        print(f"{args.stages} Stages ({sum(1 for s in upstream.values() if s == stages[0])} in the first layer),"
              f" checkpoints {checkpoints} Freight, {waves} waves of {args.stages} verified promotions"
              f" (done by each checkpoint: {waves_by}), {len(text) // KB} KB of manifests;"
              f" the worker caches {max_cached_workflows()} workflows (GANTRY_MAX_CACHED_WORKFLOWS)", flush=True)
        bench = Bench(gantry, documents, stages, upstream, args)
        done_waves = 0
        results: list[Checkpoint] = []
        for count, wanted in zip(checkpoints, waves_by):
            await bench.create_up_to(count)
            while done_waves < wanted:
                await bench.wave()
                done_waves += 1
            t0 = time.monotonic()
            cp = await bench.measure(count)
            print(f"  measured in {time.monotonic() - t0:.0f} s", flush=True)
            report(cp, results[0] if results and results[0].freight == 100 else None, bench.promotions)
            results.append(cp)

        print(f"\n== summary ({time.monotonic() - began:.0f} s in all) ==")
        for line in bench.rates:
            print(f"  {line}")
        labels = list(results[0].latencies)
        print("  " + f"{'median latency':48s}" + "".join(f"{c.freight:>12d}" for c in results) + "   last/first")
        for label in labels:
            values = [med(c.latencies[label]) for c in results]
            ratio = values[-1] / values[0]
            print("  " + f"{label:48s}" + "".join(f"{ms(v):>12s}" for v in values)
                  + f"   {ratio:.2f}x {'ok' if ratio <= 1.5 else 'NOT within 1.5x'}")
        print("  " + f"{'largest payload':48s}" + "".join(f"{size(c.largest()[0]):>12s}" for c in results))
        for what in ("project", "stages", "warehouse"):
            print(f"  history {what}: " + " | ".join(c.histories.get(what, '') for c in results))
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        http.shutdown()
        if args.db_dir:
            shutil.rmtree(db_dir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    asyncio.run(main())
