"""`gantry get pipeline` and `gantry get freight --timeline` as a user runs them (80 columns,
not a terminal), against the test server and a worker, after promoting Freight to dev."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import WorkerHandle
from tests.pipelines import make_gitops_repo, pipeline_manifests

pytestmark = pytest.mark.integration


async def gantry(address: str, worker: WorkerHandle, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client.cli", "--address", address, "--task-queue", worker.task_queue, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "80", "NO_COLOR": "1"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode() + err.decode()


async def test_pipeline_and_timeline_after_a_promotion_to_dev(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"pipe-{unique}"
    manifests = pipeline_manifests(project, repo.url)
    assert "      stages: [dev]\n" in manifests
    manifests = manifests.replace("      stages: [dev]\n", "      stages: [dev]\n      requiredSoakTime: 1h\n")
    (tmp_path / "p.yaml").write_text(manifests)
    assert (await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml")))[0] == 0
    for tag, alias in (("1.0.0", "first"), ("2.0.0", "second")):
        code, out = await gantry(
            temporal_address, worker, "freight", "create", "-p", project, "--image", f"registry.test/app:{tag}", "--alias", alias
        )
        assert code == 0, out
    for alias in ("first", "second"):
        code, out = await gantry(temporal_address, worker, "promote", "-p", project, "-s", "dev", "--freight", alias, "--wait")
        assert code == 0, out

    code, out = await gantry(temporal_address, worker, "get", "pipeline", "-p", project)
    assert code == 0, out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert lines[0].startswith("┌ app ") and "┌ dev " in lines[0] and "┌ staging " in lines[0], out
    # dev's box: its Freight, verified (no verification: at once), and an hour to soak for staging
    assert "│─▶│ second " in lines[1], out
    assert "✓ verified" in lines[2], out
    assert "to soak" in lines[3] and ("1h00m to soak" in lines[3] or "59m to soak" in lines[3]), out
    assert lines[1].endswith("│─▶│ no freight   │"), "staging has no Freight yet"

    code, out = await gantry(temporal_address, worker, "get", "pipeline", "-p", project, "-o", "json")
    assert code == 0, out
    data = json.loads(out)
    assert [w["name"] for w in data["warehouses"]] == ["app"]
    stages = {s["name"]: s for s in data["stages"]}
    assert [s["name"] for s in data["stages"]] == ["dev", "staging"]
    dev, staging = stages["dev"], stages["staging"]
    assert dev["freight"]["alias"] == "second" and dev["freight"]["since"].endswith("Z")
    assert dev["verification"]["phase"] == "Successful"
    assert 3500 < dev["soakRemaining"] <= 3600
    assert dev["direct"] == ["app"] and dev["upstream"] == []
    assert dev["promotion"] is None and dev["queue"] == 0
    assert staging["upstream"] == ["dev"] and staging["freight"] is None and staging["soakRemaining"] is None

    code, out = await gantry(temporal_address, worker, "get", "freight", "-p", project, "--timeline")
    assert code == 0, out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert lines[0].split() == ["FREIGHT", "NAME", "ARTIFACTS", "AGE", "DEV", "STAGING"], out
    rows = {line.split()[0]: line for line in lines[1:3]}
    assert list(rows) == ["second", "first"], "newest first"
    assert "registry.test/app:2.0.0" in rows["second"] and rows["second"].rstrip().endswith("●◷"), "here, verified, soaking for staging"
    assert "registry.test/app:1.0.0" in rows["first"] and rows["first"].rstrip().endswith("○✓"), out
    assert "● here now" in out

    code, out = await gantry(temporal_address, worker, "get", "freight", "-p", project, "--timeline", "-o", "json")
    assert code == 0, out
    timeline = json.loads(out)
    assert timeline["stages"] == ["dev", "staging"]
    assert [(f["alias"], f["stages"]["dev"]["currentlyIn"], f["stages"]["dev"]["wasIn"]) for f in timeline["freight"]] == [
        ("second", True, False),
        ("first", False, True),
    ]
