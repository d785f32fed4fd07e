"""`gantry worker --metrics-port`: the SDK's metrics and Gantry's own, scraped by a real
Prometheus after real promotions, with the values they should have."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from client.api import Gantry
from client.devserver import free_port
from tests.conftest import wait_for
from tests.integration.test_promotion import apply_text
from tests.pipelines import make_gitops_repo, pipeline_manifests
from tests.prometheus import prometheus_binary, running_prometheus
from tests.workerproc import WorkerProcess

pytestmark = pytest.mark.integration


async def test_worker_metrics_are_scraped_with_the_right_values(
    client, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    if prometheus_binary() is None:
        pytest.skip("needs prometheus (apt-get install prometheus)")
    port = free_port()
    queue = f"gantry-metrics-{unique}"
    worker = WorkerProcess(
        temporal_address, queue, f"metrics-{unique}", tmp_path / "work", tmp_path / "worker.log",
        extra_args=("--allow-local-repos", "--metrics-port", str(port)),
    ).start()  # fmt: skip
    try:

        async def serving() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(serving, timeout=30, message="the worker's /metrics")
        gantry = Gantry(client, queue)
        repo = make_gitops_repo(tmp_path / "remote")
        project = f"metrics-{unique}"
        await apply_text(gantry, pipeline_manifests(project, repo.url))
        origin = {"kind": "Warehouse", "name": "app"}
        good = await gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": "registry.test/app", "tag": "1.0.0"}]})
        bad = await gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": "registry.test/other", "tag": "9"}]})
        for freight in (good, bad, good):
            await asyncio.wait_for((await gantry.promote(project, "dev", freight["name"])).result(), 60)

        (tmp_path / "prometheus").mkdir()
        with running_prometheus(tmp_path / "prometheus", targets=(f"127.0.0.1:{port}",)) as prom:
            labels = f'project="{project}",stage="dev"'
            succeeded = prom.wait_for(f'gantry_promotions_total{{{labels},phase="Succeeded"}}')
            assert float(succeeded["result"][0]["value"][1]) == 2
            failed = prom.wait_for(f'gantry_promotions_total{{{labels},phase="Failed"}}')
            assert float(failed["result"][0]["value"][1]) == 1
            # four steps a good promotion, git-clone ran three times
            clones = prom.wait_for('sum(gantry_step_duration_seconds_count{step="git-clone"})')
            assert float(clones["result"][0]["value"][1]) >= 3
            lead = prom.wait_for(f"gantry_freight_lead_time_seconds_count{{{labels}}}")
            assert float(lead["result"][0]["value"][1]) == 2
            queue_depth = prom.wait_for(f"gantry_stage_lock_queue{{{labels}}}")
            assert float(queue_depth["result"][0]["value"][1]) == 0
            # and the SDK's own
            prom.wait_for(f'temporal_workflow_completed_total{{task_queue="{queue}"}}')
    finally:
        worker.stop()


def test_the_grafana_dashboard_asks_for_metrics_that_exist() -> None:
    """Every Gantry metric the dashboard queries is one workflows/metrics.py records."""
    import json
    import re

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "deploy" / "grafana" / "gantry.json").read_text())
    recorded = set(re.findall(r'"(gantry_[a-z_]+)"', (root / "workflows" / "metrics.py").read_text()))
    asked = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(gantry_[a-z_]+)", target["expr"])
    }
    assert asked and asked <= recorded, asked - recorded
