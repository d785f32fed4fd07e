"""Chaos, measured: promotions through a chain of Stages (real git remotes, verification by a
local job, soak times) while worker processes are SIGKILLed at random moments and the
Temporal dev server is restarted; then what was lost, and how long each recovery took.

Setup: an own dev server (temporary SQLite, free port, restarted on the same file and
port), 5 Stages s1 -> s2 -> ... -> s5 (s1 takes Freight directly, each next one from the one
before after a `requiredSoakTime`), each promoting into a bare git repository of its own
(`git-clone`, `kustomize-set-image`, `git-commit`, `git-push`) and verified by an
AnalysisTemplate whose metric is a local job. `--promotions` / 5 Freight each go through
all 5 Stages (`gantry promote`, `wait_for_soak` downstream) as a pipeline: Freight i enters
a Stage once Freight i-1 has been promoted on from it, so up to 5 promotions run at once,
one per Stage. Two worker processes (`python worker.py`, each in its own
process group and work directory) run from a snapshot of the code (`git archive`), so
edits to the tree during a run change nothing.

Chaos: `--kills` SIGKILLs of a worker's whole process group and `--restarts` dev-server
restarts (SIGTERM, start again on the same SQLite file and port; the workers stay up and
reconnect), in a seeded random order, spread over the run by progress (event j once about
j/(events+1) of the promotions finished, plus a random 0-3 s; new promotions wait while
the events fall behind, and the last one waits for all of them). A kill waits (up to 15 s)
for a moment when a promotion is inside a step on the victim, then kills at once. Half the
kills (rounded up) are (a) "restart": the same worker id on the same disk starts again at
once; the rest are (b) "lost": the victim never comes back and a new worker with a new id
and an empty disk starts instead. The next event waits until every promotion the kill
affected (those with steps left on the victim's queue) has completed an activity again.

Printed: promotions finished (and their phases), commits on the remotes (each expected
(Stage, tag) commit exactly once), Stages left locked (must be 0), Freight lost (must be
0: missing from the catalog, or not verified in a Stage whose promotion succeeded), and per
kill the time to recover: kill -> the first activity of an affected promotion that started
after the kill (its ACTIVITY_TASK_STARTED; the attempt that died is not counted), and ->
its completion. Figures for (a) and (b) separately. Targets (issue #11): (a) < 15 s,
(b) < 45 s.

Measured on this 2-core machine (shared), seed 1, 50 promotions, 10 kills, 2 restarts:

  before (e2b7afc: step_heartbeat_timeout 30 s, worker_wait_timeout 2 min, the SDK's
  heartbeat throttle and 10 s sticky-queue timeout):
    50 of 50 Succeeded in 953 s; 50 commits, each once; 0 Stages locked; 0 Freight lost
    (a) same worker restarted           29.9-30.1 s (n=5)   = the heartbeat timeout
    (b) worker lost, another takes over 150.0-150.1 s (n=5) = heartbeat 30 s + worker wait 120 s
  after (ee8ecd9: 10 s, 25 s, every heartbeat sent, sticky-queue timeout 3 s):
    50 of 50 Succeeded in 297 s; 50 commits, each once; 0 Stages locked; 0 Freight lost
    (a) 13.0-13.1 s (n=5)   = heartbeat 10 s + 3 s for the workflow task on the dead sticky queue
    (b) 35.1-38.0 s (n=5)   = heartbeat 10 s + sticky 3 s + worker wait 25 s
    heartbeat timeouts no kill explains (a live step taken for dead): 0
  Targets met. More in docs/architecture.md "Durability".

Run: .venv/bin/python bench/chaos.py [--seed 1] [--promotions 50] [--kills 10] [--restarts 2]
     [--quick] [--ref HEAD] [--keep]
(prints figures; exit 0 unless a check failed; not a test). `--ref` takes the workers'
and the client's code from that commit (default HEAD; uncommitted edits are not used).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workerproc import WorkerProcess

IMAGE = "registry.chaos/app"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Chaos", "GIT_AUTHOR_EMAIL": "chaos@example.com",
    "GIT_COMMITTER_NAME": "Chaos", "GIT_COMMITTER_EMAIL": "chaos@example.com", "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip
OVERLAY = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"


# -- pieces ------------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


def snapshot(ref: str, dest: Path) -> Path:
    """The tree of commit ``ref`` of this checkout, extracted into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


@dataclass
class Remote:
    """A bare repository one Stage promotes into: `app/kustomization.yaml`."""

    stage: str
    bare: Path

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def tags(self) -> list[str]:
        """The image tag each commit after the seed set, oldest first."""
        shas = git("--git-dir", str(self.bare), "rev-list", "--reverse", "main").split()[1:]
        tags = []
        for sha in shas:
            text = git("--git-dir", str(self.bare), "show", f"{sha}:app/kustomization.yaml")
            found = re.search(r"newTag:\s*(\S+)", text)
            tags.append(found.group(1) if found else "?")
        return tags


def make_remote(root: Path, stage: str) -> Remote:
    bare, seed = root / f"{stage}.git", root / f"{stage}-seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "app").mkdir()
    (seed / "app" / "kustomization.yaml").write_text(OVERLAY)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    shutil.rmtree(seed)
    return Remote(stage, bare)


def manifests(project: str, remotes: list[Remote], soak_s: int) -> str:
    docs = [
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n",
        f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  subscriptions: [{{image: {{repoURL: {IMAGE}}}}}]
""",
        f"""apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: tag-check, namespace: {project}}}
spec:
  args:
  - name: tag
  metrics:
  - name: tag
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: check
                image: chaos/check:latest
                command: ["/bin/sh", "-c", "case \\"$TAG\\" in 1.*) exit 0;; *) exit 3;; esac"]
                env:
                - name: TAG
                  value: "{{{{ args.tag }}}}"
              restartPolicy: Never
          backoffLimit: 0
""",
    ]
    for i, remote in enumerate(remotes):
        sources = "direct: true" if i == 0 else f"stages: [{remotes[i - 1].stage}]\n      requiredSoakTime: {soak_s}s"
        docs.append(f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {remote.stage}, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      {sources}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: {remote.url}
          checkout: [{{branch: main, path: ./src}}]
      - uses: kustomize-set-image
        as: set-image
        config:
          path: ./src/app
          images: [{{image: {IMAGE}}}]
      - uses: git-commit
        config: {{path: ./src, messageFromSteps: [set-image]}}
      - uses: git-push
        config: {{path: ./src, targetBranch: main}}
  verification:
    analysisTemplates: [{{name: tag-check}}]
    args:
    - name: tag
      value: ${{{{ imageFrom("{IMAGE}").Tag }}}}
""")
    return "---\n".join(docs)


# -- the run -----------------------------------------------------------------------------


@dataclass
class ChaosConfig:
    tmp: Path
    code_root: Path = ROOT
    seed: int = 1
    promotions: int = 50
    stages: int = 5
    kills: int = 10
    restarts: int = 2
    soak_s: int = 2
    #: how long one kill's recovery may take before the run goes on without it
    recovery_deadline_s: float = 400.0
    timeout_s: float = 3600.0
    #: PromotionOptions for every promotion (None: the defaults, as `gantry promote` sends them)
    options: Any = None
    log: Any = print


@dataclass
class KillRecord:
    index: int
    kind: str  # "restart" (a) or "lost" (b)
    victim: str
    at: float  # epoch seconds
    moment: str  # what the victim was doing
    affected: list[str] = field(default_factory=list)
    #: promotion id -> epoch seconds of its first activity started after the kill, and completed
    started: dict[str, float] = field(default_factory=dict)
    completed: dict[str, float] = field(default_factory=dict)
    replacement: str = ""
    #: what the affected promotions waited for: "<timeout type> +<s after the kill>"
    timeouts: list[str] = field(default_factory=list)

    def recovery(self, which: str) -> float | None:
        times = self.started if which == "started" else self.completed
        if not self.affected or any(p not in times for p in self.affected):
            return None
        return max(times[p] for p in self.affected) - self.at


@dataclass
class ChaosReport:
    expected_promotions: int = 0
    phases: dict[str, int] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    commits: dict[str, list[str]] = field(default_factory=dict)  # stage -> tags pushed
    expected_tags: dict[str, list[str]] = field(default_factory=dict)
    locked: list[str] = field(default_factory=list)
    lost_freight: list[str] = field(default_factory=list)
    kills: list[KillRecord] = field(default_factory=list)
    restarts: list[tuple[float, float]] = field(default_factory=list)  # (down at, answering after s)
    worker_exits: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: heartbeat timeouts of steps in every promotion, and those no kill explains (a live
    #: step taken for dead: must be none)
    heartbeat_timeouts: int = 0
    unexplained_timeouts: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(self.phases.values())

    def check_commits(self) -> None:
        self.duplicates, self.missing = [], []
        for stage, want in self.expected_tags.items():
            got = self.commits.get(stage, [])
            for tag in sorted(set(want) | set(got)):
                n = got.count(tag)
                if n > 1 or (n == 1 and tag not in want):
                    self.duplicates.append(f"{stage}:{tag} x{n}")
                elif n == 0:
                    self.missing.append(f"{stage}:{tag}")

    @property
    def ok(self) -> bool:
        return (
            self.phases.get("Succeeded", 0) == self.expected_promotions
            and not self.unfinished and not self.locked and not self.lost_freight
            and not self.duplicates and not self.missing and not self.unexplained_timeouts
        )  # fmt: skip


class Chaos:
    def __init__(self, cfg: ChaosConfig):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.report = ChaosReport()
        self.active: dict[str, str] = {}  # promotion workflow id -> stage
        self.done_count = 0
        self.events_completed = 0
        self.thresholds: list[int] = []
        self.server_up = asyncio.Event()
        self.workers: list[WorkerProcess] = []
        self.client: Any = None
        self.server: Any = None

    # -- plumbing --

    def _server(self) -> Any:
        from client.devserver import DevServer

        return DevServer(db_file=self.db_file, port=self.port, ui_port=None, log_file=self.cfg.tmp / "server.log")

    async def _connect(self) -> Any:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        from client.settings import TemporalSettings

        deadline = time.monotonic() + 60
        while True:
            try:
                client = await TemporalSettings(address=self.address, namespace="default").connect()
                await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
                return client
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _retrying(self, make, what: str, deadline_s: float = 120.0) -> Any:
        """Call ``make()`` (a coroutine factory) again while the server is restarting."""
        deadline = time.monotonic() + deadline_s
        while True:
            await self.server_up.wait()
            try:
                return await make()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what}: {err}") from err
                await asyncio.sleep(0.3)

    def _new_worker(self, worker_id: str) -> WorkerProcess:
        w = WorkerProcess(
            self.address, self.task_queue, worker_id, self.cfg.tmp / f"work-{worker_id}", self.cfg.tmp / "workers.log",
            env={"PYTHONPATH": None}, root=self.cfg.code_root, extra_args=("--allow-local-repos", "--allow-local-jobs"),
        )  # fmt: skip
        self.workers.append(w)
        return w.start()

    def gantry(self) -> Any:
        from client.api import Gantry

        return Gantry(self.client, self.task_queue)

    # -- main --

    async def run(self) -> ChaosReport:
        cfg, report = self.cfg, self.report
        from client.devserver import ensure_search_attributes, free_port

        self.db_file, self.port = cfg.tmp / "temporal" / "temporal.db", free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.task_queue = f"gantry-chaos-{uuid.uuid4().hex[:6]}"
        self.server = self._server().start()
        try:
            self.client = await self._connect()
            await ensure_search_attributes(self.client)
            self.server_up.set()
            for i in (1, 2):
                self._new_worker(f"chaos-w{i}")
            return await self._run()
        finally:
            for w in self.workers:
                w.stop()
            self.server.stop()

    async def _run(self) -> ChaosReport:
        cfg, report = self.cfg, self.report
        from client.applying import plan_apply
        from client.manifests import LoadedManifests
        from pipeline.manifests import parse_documents

        stages = [f"s{i + 1}" for i in range(cfg.stages)]
        remotes = [make_remote(cfg.tmp / "remotes", s) for s in stages]
        project = "chaos"
        plan = plan_apply(LoadedManifests(documents=parse_documents(manifests(project, remotes, cfg.soak_s), "chaos.yaml")))
        await self._retrying(lambda: self.gantry().apply(plan.documents), "apply", 60)
        n_freight = max(1, math.ceil(cfg.promotions / cfg.stages))
        tags = [f"1.0.{i}" for i in range(n_freight)]
        freight = []
        for tag in tags:
            made = await self._retrying(
                lambda tag=tag: self.gantry().create_freight(
                    project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": tag}]}
                ),
                "create freight",
            )
            freight.append(made["name"])
        plan_promotions = [(f, t, s) for f, t in zip(freight, tags) for s in stages][: cfg.promotions]
        report.expected_promotions = len(plan_promotions)
        for _, tag, stage in plan_promotions:
            report.expected_tags.setdefault(stage, []).append(tag)
        per_freight: dict[str, list[str]] = {}
        for f, _, s in plan_promotions:
            per_freight.setdefault(f, []).append(s)

        t0 = time.monotonic()
        self.results: dict[str, Any] = {}
        self.entered = {(i, k): asyncio.Event() for i in range(len(freight)) for k in range(len(stages))}
        self.chaos_done = asyncio.Event()
        self.last_promotion = (freight.index(plan_promotions[-1][0]), plan_promotions[-1][2])
        chains = [
            asyncio.create_task(self._chain(i, f, per_freight[f], project, stages))
            for i, f in enumerate(freight) if f in per_freight
        ]  # fmt: skip
        chaos = asyncio.create_task(self._chaos())
        try:
            done, pending = await asyncio.wait(chains, timeout=cfg.timeout_s)
            for task in done:
                if task.exception():
                    cfg.log(f"chain failed: {task.exception()!r}")
            for task in pending:
                task.cancel()
        finally:
            chaos.cancel()
            try:
                await chaos
            except (asyncio.CancelledError, Exception):
                pass
        report.elapsed_s = time.monotonic() - t0
        for status in self.results.values():
            report.phases[status.phase] = report.phases.get(status.phase, 0) + 1
        report.unfinished = sorted(self.active)

        # -- what is left --
        for remote in remotes:
            report.commits[remote.stage] = remote.tags()
        report.check_commits()
        await self._measure_recoveries()
        await self._count_heartbeat_timeouts()
        await self._check_locks(project, stages)
        await self._check_freight(project, freight, tags)
        for w in self.workers:
            if w.proc is not None and w.proc.poll() not in (None, -signal.SIGKILL, -signal.SIGTERM):
                report.worker_exits.append(f"{w.worker_id} exited {w.proc.poll()}")
        return report

    async def _chain(self, index: int, freight: str, stages: list[str], project: str, all_stages: list[str]) -> None:
        """Freight ``index`` through its Stages in order. It enters a Stage only once the
        Freight before it has moved on to the next Stage (else it would push that one out
        before its soak there ended, and the promotion downstream would be refused)."""
        from workflows.messages import PromotionStatus

        try:
            for k, stage in enumerate(stages):
                if index > 0 and k + 1 < len(all_stages):
                    await self.entered[(index - 1, k + 1)].wait()
                if k > 0:
                    await self._verified_in(project, freight, stages[k - 1])
                if (index, stage) == self.last_promotion:  # so that every event comes while work is left
                    await self.chaos_done.wait()
                while not self._may_start():  # nor does the work run far ahead of events that lag
                    await asyncio.sleep(0.2)
                handle = await self._retrying(
                    lambda: self.gantry().promote(
                        project, stage, freight, actor="chaos", wait_for_soak=k > 0, options=self.cfg.options
                    ),
                    "promote",
                )
                wid = handle.id
                self.active[wid] = stage

                async def result() -> Any:
                    return await self.gantry().promotion_result(wid)

                status = await self._retrying(result, f"result of {wid}", self.cfg.timeout_s)
                self.active.pop(wid, None)
                self.results[wid] = status
                self.done_count += 1
                self.entered[(index, k)].set()
                if status.phase != "Succeeded":
                    self.cfg.log(f"  ! {wid} ended {status.phase}: {status.message}")
                    return
        finally:  # a chain that stops early must not hold the next one back
            for k in range(len(all_stages)):
                self.entered[(index, k)].set()

    async def _verified_in(self, project: str, freight: str, stage: str, deadline_s: float = 60.0) -> None:
        """Wait (with a deadline) until the catalog shows ``freight`` verified in ``stage``: the
        promotion's result can come back before the project has recorded it."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                found = await self.gantry().get_freight(project, freight)
                if stage in ((found.get("status") or {}).get("verifiedIn") or {}):
                    return
            except Exception:
                pass
            await asyncio.sleep(0.2)

    # -- the chaos --

    async def _chaos(self) -> None:
        cfg = self.cfg
        kinds = ["restart"] * math.ceil(cfg.kills / 2) + ["lost"] * (cfg.kills // 2)
        self.rng.shuffle(kinds)
        events = kinds + ["server"] * cfg.restarts
        self.rng.shuffle(events)
        total = self.report.expected_promotions
        self.thresholds = [min(math.floor(j * total / (len(events) + 1)), total - 1) for j in range(1, len(events) + 1)]
        try:
            await self._events(events, total)
        finally:
            self.chaos_done.set()

    def _may_start(self) -> bool:
        """A promotion may start unless the work is already past the threshold of the event
        after the one due (events wait for recoveries and fall behind otherwise)."""
        after = self.events_completed + 1
        return after >= len(self.thresholds) or self.done_count < self.thresholds[after]

    async def _events(self, events: list[str], total: int) -> None:
        kill_index = 0
        for j, event in enumerate(events, start=1):
            threshold = self.thresholds[j - 1]
            while self.done_count < threshold:
                await asyncio.sleep(0.2)
            await asyncio.sleep(self.rng.uniform(0, 3))
            if event == "server":
                await self._restart_server()
            else:
                kill_index += 1
                await self._kill(kill_index, event)
            self.events_completed = j

    async def _restart_server(self) -> None:
        from client.devserver import ensure_search_attributes

        self.server_up.clear()
        down = time.time()
        self.cfg.log(f"  [{self._clock()}] dev server restart")
        self.server.stop()
        self.server = self._server().start()
        self.client = await self._connect()
        await ensure_search_attributes(self.client)
        self.report.restarts.append((down, time.time() - down))
        self.server_up.set()
        for w in self._live_workers():  # a worker that gave up on the server is a finding; start it again
            if w.proc is not None and w.proc.poll() is not None:
                self.report.worker_exits.append(f"{w.worker_id} exited {w.proc.poll()} at the server restart")
                w.start()

    def _live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if not getattr(w, "gone", False)]

    async def _statuses(self) -> dict[str, Any]:
        from workflows.messages import PromotionStatus

        async def one(wid: str) -> Any:
            try:
                return await self.client.get_workflow_handle(wid).query("status", result_type=PromotionStatus)
            except Exception:
                return None

        ids = list(self.active)
        answers = await asyncio.gather(*(one(w) for w in ids))
        return {w: s for w, s in zip(ids, answers) if s is not None}

    async def _kill(self, index: int, kind: str) -> None:
        live = [w for w in self._live_workers() if w.alive()]
        by_queue = {w.queue: w for w in live}
        victim, moment = None, "no step running on any worker (waited 15 s)"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and victim is None:
            statuses = await self._statuses()
            running = [
                (wid, s) for wid, s in statuses.items()
                if s.current_step is not None and s.worker_queue in by_queue
                and s.steps[s.current_step].status == "Running"
            ]  # fmt: skip
            if running:
                wid, s = self.rng.choice(running)
                victim = by_queue[s.worker_queue]
                moment = f"in {s.steps[s.current_step].uses} of {wid.rsplit('/', 2)[-2]}"
            else:
                await asyncio.sleep(0.05)
        if victim is None:
            victim = self.rng.choice(live)
        statuses = await self._statuses()
        affected = [wid for wid, s in statuses.items() if s.worker_queue == victim.queue and s.current_step is not None]
        at = time.time()
        victim.kill_group()
        record = KillRecord(index, kind, victim.worker_id, at, moment, affected)
        self.report.kills.append(record)
        if kind == "restart":
            victim.start()
        else:
            victim.gone = True  # type: ignore[attr-defined]
            record.replacement = f"chaos-w{len(self.workers) + 1}-{uuid.uuid4().hex[:4]}"
            self._new_worker(record.replacement)
        self.cfg.log(
            f"  [{self._clock()}] kill #{index} ({kind}) {victim.worker_id} {moment}; affected: {len(affected)}"
        )
        # wait until each affected promotion completed an activity after the kill (or ended)
        end = time.monotonic() + self.cfg.recovery_deadline_s
        pending = set(affected)
        while pending and time.monotonic() < end:
            for wid in list(pending):
                if wid not in self.active or await self._recovered(wid, at):
                    pending.discard(wid)
            if pending:
                await asyncio.sleep(0.5)
        self.cfg.log(f"  [{self._clock()}] kill #{index}: {'recovered' if not pending else 'NOT recovered: ' + str(pending)}")

    async def _recovered(self, wid: str, at: float) -> bool:
        try:
            started, completed = await self._first_activity_after(wid, at)
        except Exception:
            return False
        return completed is not None

    async def _first_activity_after(
        self, wid: str, at: float, timeouts: list[str] | None = None
    ) -> tuple[float | None, float | None]:
        """Epoch seconds: the first activity (by start) that started after ``at`` and did
        not time out (the attempt that died with the worker is not it), and its completion."""
        from temporalio.api.enums.v1 import EventType, TimeoutType

        started: dict[int, float] = {}
        closed: dict[int, tuple[bool, float]] = {}
        async for event in self.client.get_workflow_handle(wid).fetch_history_events():
            t = event.event_time.ToNanoseconds() / 1e9
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started[event.activity_task_started_event_attributes.scheduled_event_id] = t
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                closed[event.activity_task_completed_event_attributes.scheduled_event_id] = (True, t)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                closed[event.activity_task_failed_event_attributes.scheduled_event_id] = (True, t)
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT and t > at and timeouts is not None:
                kind_name = TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type)
                timeouts.append(f"workflow task {kind_name.removeprefix('TIMEOUT_TYPE_').lower()} +{t - at:.1f}s")
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                attrs = event.activity_task_timed_out_event_attributes
                closed[attrs.scheduled_event_id] = (False, t)
                if t > at and timeouts is not None:
                    kind_name = TimeoutType.Name(attrs.failure.timeout_failure_info.timeout_type)
                    timeouts.append(f"{kind_name.removeprefix('TIMEOUT_TYPE_').lower()} +{t - at:.1f}s")
        candidates = sorted(
            (t, closed[sid][1]) for sid, t in started.items() if t > at and sid in closed and closed[sid][0]
        )
        return candidates[0] if candidates else (None, None)

    async def _measure_recoveries(self) -> None:
        for record in self.report.kills:
            for wid in record.affected:
                try:
                    started, completed = await self._first_activity_after(wid, record.at, record.timeouts)
                except Exception:
                    continue
                if started is not None:
                    record.started[wid] = started
                if completed is not None:
                    record.completed[wid] = completed

    async def _count_heartbeat_timeouts(self) -> None:
        """Every heartbeat timeout in the promotions; one not within the heartbeat timeout
        (+5 s) after a kill would be a live step taken for dead."""
        from temporalio.api.enums.v1 import EventType, TimeoutType

        from workflows.messages import PromotionOptions

        window = (self.cfg.options or PromotionOptions()).step_heartbeat_timeout.total_seconds() + 5
        kills = [k.at for k in self.report.kills]
        for wid in self.results:
            try:
                events = [e async for e in self.client.get_workflow_handle(wid).fetch_history_events()]
            except Exception:
                continue
            for event in events:
                if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                    continue
                info = event.activity_task_timed_out_event_attributes.failure.timeout_failure_info
                if info.timeout_type != TimeoutType.TIMEOUT_TYPE_HEARTBEAT:
                    continue
                self.report.heartbeat_timeouts += 1
                t = event.event_time.ToNanoseconds() / 1e9
                if not any(0 <= t - at <= window for at in kills):
                    self.report.unexplained_timeouts.append(f"{wid} at {time.strftime('%H:%M:%S', time.localtime(t))}")

    async def _check_locks(self, project: str, stages: list[str]) -> None:
        async def locked() -> list[str]:
            out = []
            for stage in stages:
                view = await self.gantry().stage_lock(project, stage)
                if view and (view.holder or view.queue):
                    out.append(f"{stage}: holder={view.holder} queue={view.queue}")
            return out

        deadline = time.monotonic() + 30
        while True:
            found = await self._retrying(locked, "stage locks")
            if not found or time.monotonic() > deadline:
                self.report.locked = found
                return
            await asyncio.sleep(0.5)

    async def _check_freight(self, project: str, freight: list[str], tags: list[str]) -> None:
        succeeded = {(s.freight, s.stage) for s in self.results.values() if s.phase == "Succeeded"}
        for name, tag in zip(freight, tags):
            try:
                found = await self._retrying(lambda name=name: self.gantry().get_freight(project, name), "freight", 30)
            except Exception:
                self.report.lost_freight.append(f"{tag} ({name[:7]}): not in the catalog")
                continue
            verified = set(((found.get("status") or {}).get("verifiedIn") or {}).keys())
            missing = sorted(stage for f, stage in succeeded if f == name and stage not in verified)
            if missing:
                self.report.lost_freight.append(f"{tag} ({name[:7]}): not verified in {', '.join(missing)}")

    def _clock(self) -> str:
        return time.strftime("%H:%M:%S")


async def run_chaos(cfg: ChaosConfig) -> ChaosReport:
    return await Chaos(cfg).run()


# -- printing ------------------------------------------------------------------------------


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):5.1f} s, max {max(values):5.1f} s, min {min(values):5.1f} s (n={len(values)})"


def print_report(report: ChaosReport) -> None:
    print()
    print(f"promotions finished: {report.finished} of {report.expected_promotions} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(report.phases.items()))}) in {report.elapsed_s:.0f} s")
    if report.unfinished:
        print(f"  unfinished: {report.unfinished}")
    n_commits = sum(len(v) for v in report.commits.values())
    n_expected = sum(len(v) for v in report.expected_tags.values())
    print(f"commits on the remotes: {n_commits} (expected {n_expected}, each once): "
          f"duplicates {len(report.duplicates)}, missing {len(report.missing)}"
          + (f"  {report.duplicates + report.missing}" if report.duplicates or report.missing else ""))
    print(f"Stages left locked: {len(report.locked)}" + (f"  {report.locked}" if report.locked else ""))
    print(f"Freight lost: {len(report.lost_freight)}" + (f"  {report.lost_freight}" if report.lost_freight else ""))
    print(f"heartbeat timeouts of steps: {report.heartbeat_timeouts}, of them not after a kill (a live step taken"
          f" for dead, must be 0): {len(report.unexplained_timeouts)}"
          + (f"  {report.unexplained_timeouts}" if report.unexplained_timeouts else ""))
    for down, back in report.restarts:
        print(f"dev server restart at {time.strftime('%H:%M:%S', time.localtime(down))}: answering again after {back:.1f} s")
    if report.worker_exits:
        print(f"workers that exited by themselves: {report.worker_exits}")
    print()
    print("kills (recovery = kill -> first activity of an affected promotion started after the kill / completed;")
    print("       the slowest affected promotion counts):")
    for k in report.kills:
        s, c = k.recovery("started"), k.recovery("completed")
        rec = "no promotion affected" if not k.affected else (
            f"started {s:6.1f} s, completed {c:6.1f} s" if s is not None and c is not None else "NOT recovered"
        )
        print(f"  #{k.index:<2} {k.kind:7s} {k.victim:18s} {k.moment[:34]:34s} affected {len(k.affected)}  {rec}"
              + (f"  (timeouts: {', '.join(k.timeouts)})" if k.timeouts else ""))
    for kind, label, target in (("restart", "(a) same worker restarted", 15), ("lost", "(b) worker lost, another takes over", 45)):
        started = [v for k in report.kills if k.kind == kind and (v := k.recovery("started")) is not None]
        completed = [v for k in report.kills if k.kind == kind and (v := k.recovery("completed")) is not None]
        verdict = "n/a" if not started else ("met" if max(started) < target else "NOT met")
        print(f"{label}: started {summary(started)}")
        print(f"  {'':{len(label) - 2}s} completed {summary(completed)}   target < {target} s (started, max): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--promotions", type=int, default=50)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="15 promotions, 4 kills, 1 restart")
    parser.add_argument("--ref", default="HEAD", help="commit whose code the workers and client run (default HEAD)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.quick:
        args.promotions, args.kills, args.restarts = 15, 4, 1
    tmp = Path(tempfile.mkdtemp(prefix="gantry-bench-chaos-"))
    code = snapshot(args.ref, tmp / "code")
    sys.path.insert(0, str(code))
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.ref], capture_output=True, text=True).stdout.strip()
    print(f"chaos: seed {args.seed}, {args.promotions} promotions over 5 Stages, {args.kills} kills, "
          f"{args.restarts} dev-server restarts; code of {args.ref} ({rev})")
    from workflows.messages import PromotionOptions

    defaults = PromotionOptions()
    print(f"  PromotionOptions: step_heartbeat_timeout {defaults.step_heartbeat_timeout.total_seconds():.0f} s, "
          f"worker_wait_timeout {defaults.worker_wait_timeout.total_seconds():.0f} s")
    cfg = ChaosConfig(tmp=tmp, code_root=code, seed=args.seed, promotions=args.promotions, kills=args.kills,
                      restarts=args.restarts)  # fmt: skip

    async def go() -> ChaosReport:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # so `finally` stops the server
        return await run_chaos(cfg)

    try:
        report = asyncio.run(go())
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_report(report)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
