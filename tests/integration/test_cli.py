"""The `gantry` command line as a user runs it, against the test server and a worker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import WorkerHandle, wait_for
from tests.pipelines import make_gitops_repo, pipeline_manifests

pytestmark = pytest.mark.integration


async def gantry(address: str, worker: WorkerHandle, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client.cli", "--address", address, "--task-queue", worker.task_queue, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def test_apply_create_promote_and_get(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"cli-{unique}"
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "pipeline.yaml").write_text(pipeline_manifests(project, repo.url))

    code, out = await gantry(temporal_address, worker, "apply", "-f", str(manifests))
    assert code == 0, out
    assert "stage/dev created" in out

    code, out = await gantry(
        temporal_address, worker, "freight", "create", "-p", project, "--image", "registry.test/app:3.1.4", "--alias", "pi", "-o", "json"
    )
    assert code == 0, out
    freight = json.loads(out)
    assert freight["kind"] == "Freight" and freight["alias"] == "pi"

    code, out = await gantry(temporal_address, worker, "promote", "-p", project, "--stage", "dev", "--freight", "pi", "--wait")
    assert code == 0, out
    for step in ("git-clone", "kustomize-set-image", "git-commit", "git-push"):
        assert step in out
    assert "Succeeded" in out
    assert "newTag: 3.1.4" in repo.show("env/dev/kustomization.yaml")

    code, out = await gantry(temporal_address, worker, "get", "stages", "-p", project, "-o", "json")
    stages = {s["metadata"]["name"]: s for s in json.loads(out)["items"]}
    assert stages["dev"]["status"]["freightHistory"][0]["id"] == freight["metadata"]["name"]

    code, out = await gantry(temporal_address, worker, "get", "freight", "-p", project, "-o", "yaml")
    assert code == 0 and "kind: Freight" in out and "currentlyIn" in out

    async def listed() -> list | None:  # `get promotions` reads visibility: eventually consistent
        code, out = await gantry(temporal_address, worker, "get", "promotions", "-p", project, "-o", "json")
        rows = json.loads(out)["items"] if code == 0 else []
        return rows if len(rows) == 1 and rows[0]["status"].get("phase") == "Succeeded" else None

    promotions = await wait_for(listed, timeout=20, message="the promotion in `get promotions`")

    code, out = await gantry(temporal_address, worker, "get", "promotion", promotions[0]["metadata"]["name"], "-p", project)
    assert code == 0 and "git-push" in out and "Succeeded" in out

    code, out = await gantry(temporal_address, worker, "get", "warehouses", "-p", project)
    assert "image:registry.test/app" in out
    code, out = await gantry(temporal_address, worker, "get", "projects")
    assert project in out


async def test_failed_promotion_exits_non_zero(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    project = f"cli-{unique}"
    (tmp_path / "p.yaml").write_text(pipeline_manifests(project, f"file://{tmp_path}/missing.git"))
    assert (await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml")))[0] == 0
    code, out = await gantry(temporal_address, worker, "freight", "create", "-p", project, "--image", "registry.test/app:1.0.0")
    assert code == 0, out
    code, out = await gantry(temporal_address, worker, "get", "freight", "-p", project, "-o", "json")
    alias = json.loads(out)["items"][0]["alias"]
    code, out = await gantry(temporal_address, worker, "promote", "-p", project, "-s", "dev", "--freight", alias, "--wait")
    assert code == 1, out
    assert "Failed" in out or "Errored" in out


async def test_bad_apply_is_one_clear_error_and_exit_1(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: cli-{unique}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: nowhere}}
    sources: {{direct: true}}
"""
    )
    code, out = await gantry(temporal_address, worker, "apply", "-f", str(bad))
    assert code == 1
    assert 'Warehouse "nowhere" does not exist' in out and "bad.yaml" in out
    assert "Traceback" not in out


async def test_dry_run_prints_configs_and_diff_and_pushes_nothing(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"cli-{unique}"
    (tmp_path / "p.yaml").write_text(pipeline_manifests(project, repo.url))
    assert (await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml")))[0] == 0
    code, out = await gantry(temporal_address, worker, "freight", "create", "-p", project, "--image", "registry.test/app:4.5.6", "--alias", "dry")
    assert code == 0, out
    before = repo.commits()

    code, out = await gantry(temporal_address, worker, "promote", "-p", project, "-s", "dev", "--freight", "dry", "--dry-run")

    assert code == 0, out
    assert f'"repoURL": "{repo.url}"' in out, "rendered configs are printed"
    assert "+  newTag: 4.5.6" in out, "the diff shows the change"
    assert "git-push): Skipped" in out
    assert repo.commits() == before


async def test_availability_approve_and_stage_view(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"cli-{unique}"
    (tmp_path / "p.yaml").write_text(pipeline_manifests(project, repo.url))
    assert (await gantry(temporal_address, worker, "apply", "-f", str(tmp_path / "p.yaml")))[0] == 0
    code, out = await gantry(temporal_address, worker, "freight", "create", "-p", project, "--image", "registry.test/app:6.0.0", "--alias", "six")
    assert code == 0, out

    code, out = await gantry(temporal_address, worker, "get", "freight", "-p", project)
    assert "dev: available" in out and "staging: not available" in out, out

    code, out = await gantry(temporal_address, worker, "promote", "-p", project, "-s", "staging", "--freight", "six")
    assert code == 1
    assert "freight six is not available to stage staging: not verified in dev" in out

    code, out = await gantry(temporal_address, worker, "approve", "-p", project, "-s", "staging", "--freight", "six")
    assert code == 0 and "approved for stage staging" in out
    code, out = await gantry(temporal_address, worker, "promote", "-p", project, "-s", "staging", "--freight", "six", "--wait")
    assert code == 0, out

    code, out = await gantry(temporal_address, worker, "get", "stage", "staging", "-p", project)
    assert code == 0, out
    assert "stage staging: freight six" in out and "held by nobody" in out
    assert "(current)" in out


async def test_apply_refuses_a_misspelt_step_field_and_an_unknown_step(
    worker: WorkerHandle, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    from tests.unit.test_step_configs import MISSPELT, STAGE

    bad = tmp_path / "stages.yaml"
    bad.write_text(STAGE.format(steps=MISSPELT).replace("namespace: p}", f"namespace: cli-{unique}}}"))
    code, out = await gantry(temporal_address, worker, "apply", "-f", str(bad))
    assert code == 1, out
    assert (
        "stages.yaml:26: Stage/dev: spec.promotionTemplate.spec.steps[1].config.targetBrnach: "
        "step 'push' (git-push): unknown field 'targetBrnach'; did you mean 'targetBranch'?"
    ) in out, out
    bad.write_text(STAGE.format(steps="      - uses: wait-for-approval\n").replace("namespace: p}", f"namespace: cli-{unique}}}"))
    code, out = await gantry(temporal_address, worker, "apply", "-f", str(bad))
    assert code == 1, out
    assert "steps[0].uses: 'wait-for-approval' is a Kargo Enterprise step, which Gantry does not run; Gantry runs: " in out, out
    code, out = await gantry(temporal_address, worker, "get", "stages", "-p", f"cli-{unique}")
    assert "dev" not in out, "nothing was applied"
