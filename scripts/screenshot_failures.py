#!/usr/bin/env python
"""Show that Temporal Web lists failed promotions under its Failures filter, with a picture.

Starts its own Temporal dev server with Temporal Web (free ports, a temporary SQLite file),
an in-process worker, and a small pipeline on a local bare git repository; runs two
promotions that fail, one that succeeds and one that is aborted; checks with the `temporal`
CLI how each ended; then has headless Chromium photograph Temporal Web's workflow list
filtered to `ExecutionStatus="Failed"` and to the project. Needs `chromium` (Debian) on the
PATH; without it the check still runs and the picture is skipped.

    .venv/bin/python scripts/screenshot_failures.py --out docs/images/temporal-web-failures.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["GANTRY_ALLOW_LOCAL_REPOS"] = "1"

from client.api import Gantry  # noqa: E402
from client.devserver import DevServer, ensure_search_attributes, free_port, temporal_binary  # noqa: E402
from client.settings import TemporalSettings  # noqa: E402
from client.worker import build_workers  # noqa: E402


def cli(address: str, *args: str) -> str:
    done = subprocess.run([temporal_binary(), *args, "--address", address], capture_output=True, text=True, check=True)
    return done.stdout


async def run(out: Path | None) -> int:
    from tests.httpserver import ScriptedServer
    from tests.integration.test_promotion import apply_text
    from tests.pipelines import make_gitops_repo, pipeline_manifests

    tmp = Path(tempfile.mkdtemp(prefix="gantry-shot-"))
    ui_port = free_port()
    server = DevServer(db_file=tmp / "temporal.db", port=free_port(), ui_port=ui_port, log_file=tmp / "server.log").start()
    workers, tasks = [], []
    try:
        client = await TemporalSettings(address=server.address).connect()
        await ensure_search_attributes(client)
        os.environ["GANTRY_WORK_DIR"] = str(tmp / "work")
        workers = build_workers(client, task_queue="gantry", worker_id="shot")
        tasks = [asyncio.create_task(w.run()) for w in workers]
        gantry = Gantry(client, "gantry")
        project = "shop"
        repo = make_gitops_repo(tmp / "remote")
        await apply_text(gantry, pipeline_manifests(project, repo.url))
        origin = {"kind": "Warehouse", "name": "app"}
        good = await gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": "registry.test/app", "tag": "1.0.0"}]})
        ended: dict[str, str] = {}
        for tag in ("7", "8"):  # images the Stage's kustomize-set-image does not know: the step fails
            bad = await gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": "registry.test/other", "tag": tag}]})
            handle = await gantry.promote(project, "dev", bad["name"])
            ended[handle.id] = (await handle.result()).phase
        handle = await gantry.promote(project, "dev", good["name"])
        ended[handle.id] = (await handle.result()).phase
        with ScriptedServer([], then=(200, {"ready": False})) as never:
            await apply_text(gantry, _slow_stage(project, never.url))
            handle = await gantry.promote(project, "slow", good["name"])
            while not never.count:
                await asyncio.sleep(0.2)
            await gantry.abort_promotion(handle.id, "aborted for the picture")
            ended[handle.id] = (await handle.result()).phase

        print("promotion phase -> Temporal status (temporal workflow describe):")
        for workflow_id, phase in ended.items():
            described = json.loads(cli(server.address, "workflow", "describe", "--workflow-id", workflow_id, "-o", "json"))
            status = described["workflowExecutionInfo"]["status"]
            print(f"  {phase:9} -> {status:40} {workflow_id}")
        failed = f'GantryProject="{project}" AND ExecutionStatus="Failed"'
        for _ in range(50):  # visibility is eventually consistent
            listed = json.loads(cli(server.address, "workflow", "list", "--query", failed, "-o", "json") or "[]")
            if len(listed) == 2:
                break
            await asyncio.sleep(0.2)
        print(f"temporal workflow list --query '{failed}': {len(listed)} workflows")

        browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if out is None:
            return 0
        if browser is None:
            print("no chromium on the PATH: no picture (apt-get install chromium)")
            return 0
        query = urllib.parse.quote(f'ExecutionStatus="Failed" AND GantryProject="{project}"')
        url = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows?query={query}"
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,800",
             "--virtual-time-budget=15000", f"--screenshot={out.resolve()}", url],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        print(f"Temporal Web, {url}\n  -> {out}")
        return 0
    finally:
        for worker in workers:
            await worker.shutdown()
        for task in tasks:
            task.cancel()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _slow_stage(project: str, url: str) -> str:
    return f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: slow, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: http
        as: wait-ready
        config: {{url: "{url}/ready", successExpression: response.body.ready, pollInterval: 1s}}
      - uses: compose-output
        as: after
        config: {{x: 1}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="where to write the PNG (none: only the CLI check)")
    return asyncio.run(run(parser.parse_args().out))


if __name__ == "__main__":
    sys.exit(main())
