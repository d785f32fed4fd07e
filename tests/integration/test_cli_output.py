"""The output contract of `gantry get` (docs/cli.md), as a user runs the CLI against a real
pipeline: every `get` in `-o json` and `-o yaml` validates against its kind's schema
(docs/schemas/), timestamps are in one form, a promotion has one name, and the tables
printed to a pipe at 80 columns cut no name, alias, id or tag (snapshots)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.conftest import WorkerHandle, wait_for
from tests.integration.test_promotion import apply_text
from tests.jobs import JOB_PYTHON
from tests.pipelines import make_gitops_repo, pipeline_manifests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
#: a registry nobody listens on: the Warehouse's discovery fails the same way everywhere
IMAGE = "127.0.0.1:1/platform-team/long-application-name"

#: uat takes Freight straight from the Warehouse and verifies it with a job that passes for
#: 1.0.0; prod takes what was verified in uat after a 2 h soak there
PIPELINE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: {project}}}
spec:
  subscriptions: [{{image: {{repoURL: {image}}}}}]
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: uat, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        as: deployed
        config: {{tag: "${{{{ imageFrom('{image}').Tag }}}}"}}
  verification:
    analysisTemplates:
    - name: smoke
    args:
    - name: tag
      value: ${{{{ imageFrom("{image}").Tag }}}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: prod, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{stages: [uat], requiredSoakTime: 2h}}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        config: {{deployed: "yes"}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: smoke, namespace: {project}}}
spec:
  args:
  - name: tag
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: smoke
                image: smoke-tests
                command: ["{python}", "-c", "import os, sys; sys.exit(0 if os.environ['TAG'] == '1.0.0' else 3)"]
                env:
                - name: TAG
                  value: "{{{{ args.tag }}}}"
              restartPolicy: Never
          backoffLimit: 0
"""


async def gantry(address: str, worker: WorkerHandle, *args: str, columns: int = 80) -> tuple[int, str, str]:
    """The CLI as a subprocess writing to pipes (not a terminal), COLUMNS=`columns`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client.cli", "--address", address, "--task-queue", worker.task_queue, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind.lower()}.json").read_text())


def check_times(value: Any, path: str = "") -> None:
    """Every timestamp-like value anywhere is RFC 3339 UTC to the second."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_times(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_times(v, f"{path}[{i}]")
    elif isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d", value):
        assert TIME.match(value), f"{path}: {value!r} is not RFC 3339 UTC (2026-12-01T10:00:00Z)"


def validate(document: dict[str, Any], kind: str) -> None:
    assert document["kind"] == kind, document
    jsonschema.validate(document, schema(kind))
    check_times(document)


def validate_list(document: dict[str, Any], kind: str, at_least: int = 1) -> list[dict[str, Any]]:
    jsonschema.validate(document, schema("list"))
    assert len(document["items"]) >= at_least, document
    for item in document["items"]:
        validate(item, kind)
    return document["items"]


async def get_both(address: str, worker: WorkerHandle, *args: str) -> Any:
    """The command's JSON, after checking its YAML says the same."""
    code, out, err = await gantry(address, worker, *args, "-o", "json")
    assert code == 0, out + err
    as_json = json.loads(out)
    code, out, err = await gantry(address, worker, *args, "-o", "yaml")
    assert code == 0, out + err
    as_yaml = YAML(typ="safe").load(out)
    assert without_remaining(json.loads(json.dumps(as_yaml, default=str))) == without_remaining(as_json), "YAML and JSON differ"
    return as_json


def without_remaining(value: Any) -> Any:
    """A document less its `remaining` soak times (they change from one call to the next)."""
    if isinstance(value, dict):
        return {k: without_remaining(v) for k, v in value.items() if k != "remaining"}
    if isinstance(value, list):
        return [without_remaining(v) for v in value]
    return value


# -- snapshots ------------------------------------------------------------------------------

#: variable parts, replaced by text of the same length so columns stay aligned
NORMALISE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"), "YYYY-MM-DDTHH:MM:SSZ"),
    (re.compile(r"(?<=\.)[0-9a-f]{19}(?=\.)"), "I" * 19),  # a promotion name's sortable id
    (re.compile(r"\b[0-9a-f]{40}\b"), "F" * 40),
    (re.compile(r"\b[0-9a-f]{12}\b"), "F" * 12),
    (re.compile(r"(?<=\.)[0-9a-f]{7}\b"), "F" * 7),
    (re.compile(r"\b1h5\dm\b"), "1h59m"),  # soak time left, whichever minute the call fell in
]


def normalise(text: str, project: str) -> str:
    text = text.replace(project, "P" * len(project))
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


SNAPSHOTS = {
    "stages": """\
NAME  FREIGHT        VERIFICATION  SOAK        LOCK  QUEUE
prod                                                 0
uat   first-release  Successful    1h59m left        0
""",
    "warehouses": """\
NAME  SUBSCRIPTIONS                                          FREIGHT  STATUS
app   image:127.0.0.1:1/platform-team/long-application-name  -        error: image
                                                                      127.0.0.1:1/platform-team/long-applicati
                                                                      on-name: image repository
                                                                      127.0.0.1:1/platform-team/long-applicati
                                                                      on-name: ConnectError: All connection
                                                                      attempts failed
""",
    "freight": """\
NAME          ALIAS           ARTIFACTS                                              IN   STAGES
FFFFFFFFFFFF  second-release  127.0.0.1:1/platform-team/long-application-name:1.1.0       prod: not available, uat: available
FFFFFFFFFFFF  first-release   127.0.0.1:1/platform-team/long-application-name:1.0.0  uat  prod: soaking until HH:MM UTC (1h59m
                                                                                          left), uat: available
""",
    "promotions": """\
NAME                             STAGE  FREIGHT       PHASE      STARTED
uat.IIIIIIIIIIIIIIIIIII.FFFFFFF  uat    FFFFFFFFFFFF  Succeeded  YYYY-MM-DDTHH:MM:SSZ
""",
    "promotion": """\
uat.IIIIIIIIIIIIIIIIIII.FFFFFFF: Succeeded  1 of 1 steps succeeded
#  STEP      USES            STATUS     ERRORS  MESSAGE
1  deployed  compose-output  Succeeded  0
""",
    "stage": """\
stage uat: freight first-release (FFFFFFFFFFFF) since YYYY-MM-DDTHH:MM:SSZ
lock: held by nobody; waiting: 0
FREIGHT       SINCE                 UNTIL      PROMOTION
FFFFFFFFFFFF  YYYY-MM-DDTHH:MM:SSZ  (current)  uat.IIIIIIIIIIIIIIIIIII.FFFFFFF

FREIGHT       PHASE       FINISHED              MESSAGE
FFFFFFFFFFFF  Successful  YYYY-MM-DDTHH:MM:SSZ
""",
}


async def test_every_get_follows_the_output_contract(
    worker: WorkerHandle, temporal_address: str, unique: str
) -> None:
    project = f"out-{unique}"
    await apply_text(worker.gantry, PIPELINE.format(project=project, image=IMAGE, python=JOB_PYTHON))
    origin = {"kind": "Warehouse", "name": "app"}
    first = await worker.gantry.create_freight(
        project, {"origin": origin, "images": [{"repoURL": IMAGE, "tag": "1.0.0"}], "alias": "first-release"}
    )
    second = await worker.gantry.create_freight(
        project, {"origin": origin, "images": [{"repoURL": IMAGE, "tag": "1.1.0"}], "alias": "second-release"}
    )
    handle = await worker.gantry.promote(project, "uat", "first-release")
    status = await worker.gantry.promotion_result(handle.id)
    assert status.phase == "Succeeded" and status.verified_at, status
    promotion = handle.id.rsplit("/", 1)[-1]

    async def listed() -> bool:  # the list reads visibility, which trails the promotion's end
        code, out, _ = await gantry(temporal_address, worker, "get", "promotions", "-p", project, "-o", "json")
        items = json.loads(out)["items"] if code == 0 else []
        return len(items) == 1 and items[0]["status"].get("phase") == "Succeeded" and "finishedAt" in items[0]["status"]

    await wait_for(listed, timeout=20, message="the promotion in `get promotions`")

    # -- JSON and YAML: Kargo-shaped, one schema per kind ------------------------------------
    projects = validate_list(await get_both(temporal_address, worker, "get", "projects"), "Project")
    assert project in [p["metadata"]["name"] for p in projects]

    stages = {s["metadata"]["name"]: s for s in validate_list(await get_both(temporal_address, worker, "get", "stages", "-p", project), "Stage", 2)}
    uat = stages["uat"]
    assert uat["metadata"]["namespace"] == project
    assert uat["spec"]["requestedFreight"][0]["origin"] == origin
    current = uat["status"]["freightHistory"][0]
    assert current["id"] == first["name"] and current["items"]["Warehouse/app"]["images"][0]["tag"] == "1.0.0"
    assert current["verificationHistory"][0]["phase"] == "Successful"
    assert uat["status"]["verification"]["phase"] == "Successful"
    assert uat["status"]["lastPromotion"]["name"] == promotion
    assert uat["status"]["health"]["status"] == "Healthy"
    assert uat["status"]["soak"][0]["downstream"] == "prod" and uat["status"]["soak"][0]["requiredSoakTime"] == "2h0m0s"
    assert "freightHistory" not in stages["prod"]["status"] and stages["prod"]["status"]["health"]["status"] == "Unknown"

    one = await get_both(temporal_address, worker, "get", "stage", "uat", "-p", project)
    validate(one, "Stage")
    assert one["status"]["freightHistory"] == uat["status"]["freightHistory"]

    warehouses = validate_list(await get_both(temporal_address, worker, "get", "warehouses", "-p", project), "Warehouse")
    assert warehouses[0]["spec"]["subscriptions"][0]["image"]["repoURL"] == IMAGE

    freight = validate_list(await get_both(temporal_address, worker, "get", "freight", "-p", project), "Freight", 2)
    assert [f["metadata"]["name"] for f in freight] == [second["name"], first["name"]], "newest first"
    assert freight[1]["alias"] == "first-release" and "uat" in freight[1]["status"]["currentlyIn"]
    single = await get_both(temporal_address, worker, "get", "freight", "-p", project, "first-release")
    validate(single, "Freight")
    assert single == freight[1], "one Freight is the object itself, as in the list"
    paged = await get_both(temporal_address, worker, "get", "freight", "-p", project, "--limit", "1")
    assert len(validate_list(paged, "Freight")) == 1 and paged["metadata"]["continue"]

    listed_promotions = validate_list(await get_both(temporal_address, worker, "get", "promotions", "-p", project), "Promotion")
    got = await get_both(temporal_address, worker, "get", "promotion", promotion, "-p", project)
    validate(got, "Promotion")
    assert listed_promotions[0]["metadata"]["name"] == got["metadata"]["name"] == promotion, "one name in list and get"
    assert got["status"]["workflowId"] == listed_promotions[0]["status"]["workflowId"] == handle.id
    assert got["spec"] == {"stage": "uat", "freight": first["name"], "steps": [{"uses": "compose-output", "as": "deployed"}]}
    assert got["status"]["stepExecutionMetadata"][0]["status"] == "Succeeded"
    assert got["status"]["verification"]["phase"] == "Successful"
    assert got["metadata"]["creationTimestamp"] == listed_promotions[0]["metadata"]["creationTimestamp"]

    run = await get_both(temporal_address, worker, "verification", "logs", "-p", project, "-s", "uat")
    validate(run, "AnalysisRun")
    assert run["apiVersion"] == "argoproj.io/v1alpha1" and run["status"]["metricResults"][0]["name"] == "smoke"

    # -- names as tables show them are accepted back -----------------------------------------
    code, out, err = await gantry(temporal_address, worker, "get", "promotion", promotion[:8], "-p", project, "-o", "json")
    assert code == 0 and json.loads(out)["metadata"]["name"] == promotion, out + err
    code, out, err = await gantry(temporal_address, worker, "get", "promotion", promotion[:6], "-p", project)
    assert code == 1 and "ambiguous or too short: give at least 7 characters" in err, out + err
    assert len(err.strip().splitlines()) == 1, err
    code, out, err = await gantry(temporal_address, worker, "get", "freight", "-p", project, first["name"][:12], "-o", "json")
    assert code == 0 and json.loads(out)["metadata"]["name"] == first["name"], out + err

    # -- tables at 80 columns, to a pipe: nothing cut ----------------------------------------
    async def discovery_failed() -> bool:
        status = await worker.gantry.warehouse_status(project, "app")
        return bool(status and status.error and not status.discovering)

    await wait_for(discovery_failed, timeout=30, message="the Warehouse's first pass to fail")
    for command, args in (
        ("stages", ["get", "stages", "-p", project]),
        ("warehouses", ["get", "warehouses", "-p", project]),
        ("freight", ["get", "freight", "-p", project]),
        ("promotions", ["get", "promotions", "-p", project]),
        ("promotion", ["get", "promotion", promotion, "-p", project]),
    ):
        code, out, err = await gantry(temporal_address, worker, *args)
        assert code == 0, out + err
        assert "…" not in out, out
        text = normalise(out, project)
        if command == "freight":
            text = re.sub(r"\d\d:\d\d UTC", "HH:MM UTC", text)
        assert text == SNAPSHOTS[command], f"`gantry {' '.join(args)}` printed:\n{out}"

    code, out, _ = await gantry(temporal_address, worker, "get", "projects")
    mine = [line for line in normalise(out, project).splitlines() if line.startswith(("NAME", "P" * len(project)))]
    assert mine == ["NAME", "P" * len(project)], out  # the server has other tests' projects too

    code, out, err = await gantry(temporal_address, worker, "get", "stage", "uat", "-p", project)
    assert code == 0 and "…" not in out, out + err
    assert promotion in out and first["name"][:12] in out
    assert normalise(out, project) == SNAPSHOTS["stage"], out

    # -- -o wide: whole names, workflow ids and times ----------------------------------------
    code, out, _ = await gantry(temporal_address, worker, "get", "freight", "-p", project, "-o", "wide")
    assert code == 0 and first["name"] in out and second["name"] in out, out
    code, out, _ = await gantry(temporal_address, worker, "get", "promotions", "-p", project, "-o", "wide")
    assert code == 0 and handle.id in out and first["name"] in out and "FINISHED" in out, out
    code, out, _ = await gantry(temporal_address, worker, "get", "stages", "-p", project, "-o", "wide")
    assert code == 0 and first["name"] in out and f"verification/{project}/uat/{promotion}" in out, out
    code, out, _ = await gantry(temporal_address, worker, "get", "promotion", promotion, "-p", project, "-o", "wide")
    assert code == 0 and handle.id in out and "STARTED" in out and "FINISHED" in out, out
    code, out, _ = await gantry(temporal_address, worker, "get", "warehouses", "-p", project, "-o", "wide")
    assert code == 0 and "LAST DISCOVERY" in out and "INTERVAL" in out, out


async def test_get_stages_shows_running_verification_lock_and_queue(
    worker: WorkerHandle, temporal_address: str, unique: str
) -> None:
    """While a re-verification holds uat and a promotion waits for it: VERIFICATION Running,
    LOCK the holder, QUEUE 1; after, the queued promotion's outcome."""
    project = f"lock-{unique}"
    flag = Path(f"/tmp/gantry-test-hold-{unique}")  # while it exists the smoke job waits (a path the job's user can see)
    hold = f"exec('while os.path.exists(\\\\'{flag}\\\\'): time.sleep(0.1)'); "
    text = PIPELINE.format(project=project, image=IMAGE, python=JOB_PYTHON).replace(
        "\"import os, sys; ", f"\"import os, sys, time; {hold}"
    )
    await apply_text(worker.gantry, text)
    origin = {"kind": "Warehouse", "name": "app"}
    for tag, alias in (("1.0.0", "first-release"), ("1.1.0", "second-release")):
        await worker.gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": IMAGE, "tag": tag}], "alias": alias})
    first = await worker.gantry.promote(project, "uat", "first-release")
    assert (await worker.gantry.promotion_result(first.id)).verified_at

    flag.touch()
    try:
        reverify = await worker.gantry.reverify(project, "uat")
        await wait_for(lambda: worker.gantry.running_verification(project, "uat"), timeout=30, message="verification to run")
        queued = await worker.gantry.promote(project, "uat", "second-release")

        async def queued_up() -> bool:
            lock = await worker.gantry.stage_lock(project, "uat")
            return bool(lock and lock.queue)

        await wait_for(queued_up, timeout=20, message="the promotion to wait in the queue")
        code, out, err = await gantry(temporal_address, worker, "get", "stages", "-p", project)
        assert code == 0, out + err
        assert normalise(out, project) == (
            "NAME  FREIGHT        VERIFICATION  SOAK        LOCK                                    QUEUE\n"
            "prod                                                                                   0\n"
            "uat   first-release  Running       1h59m left  verify.uat.IIIIIIIIIIIIIIIIIII.FFFFFFF  1\n"
        ), out
        uat = next(s for s in (await get_both(temporal_address, worker, "get", "stages", "-p", project))["items"]
                   if s["metadata"]["name"] == "uat")  # fmt: skip
        validate(uat, "Stage")
        assert uat["status"]["currentPromotion"]["name"] == reverify.id.rsplit("/", 1)[-1]
        assert uat["status"]["lock"]["queue"] == [queued.id.rsplit("/", 1)[-1]]
        assert uat["status"]["health"]["status"] == "Progressing"
        assert uat["status"]["verification"]["phase"] == "Running"
    finally:
        flag.unlink(missing_ok=True)
    assert (await worker.gantry.promotion_result(reverify.id)).verified_at
    after = await worker.gantry.promotion_result(queued.id)
    assert after.verification.startswith("Failed"), after  # the job passes for 1.0.0 only

    code, out, err = await gantry(temporal_address, worker, "get", "stages", "-p", project)
    assert code == 0, out + err
    assert normalise(out, project) == (
        "NAME  FREIGHT         VERIFICATION  SOAK  LOCK  QUEUE\n"
        "prod                                            0\n"
        "uat   second-release  Failed                    0\n"
    ), out
    uat = next(s for s in (await get_both(temporal_address, worker, "get", "stages", "-p", project))["items"]
               if s["metadata"]["name"] == "uat")  # fmt: skip
    validate(uat, "Stage")
    assert uat["status"]["health"]["status"] == "Unhealthy" and "Failed" in uat["status"]["health"]["issues"][0]
    assert [h["verificationHistory"][0]["phase"] for h in uat["status"]["freightHistory"]] == ["Failed", "Successful"]
    assert "currentPromotion" not in uat["status"] and uat["status"]["lastPromotion"]["name"] == queued.id.rsplit("/", 1)[-1]


async def test_kargo_verbs_promote_downstream_refresh_stage_get_projectconfig(
    worker: WorkerHandle, temporal_address: str, unique: str, tmp_path: Path
) -> None:
    repo = make_gitops_repo(tmp_path / "remote")
    project = f"verbs-{unique}"
    manifests = pipeline_manifests(project, repo.url)
    staging = manifests[manifests.index("---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: staging") :]
    prod = staging.replace("name: staging", "name: prod").replace("env/staging", "env/prod")
    prod = prod.replace("targetBranch: main", "targetBranch: prod")  # the two promotions run at once
    await apply_text(worker.gantry, manifests + prod)
    origin = {"kind": "Warehouse", "name": "app"}
    first = await worker.gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": "registry.test/app", "tag": "7.0.0"}]})

    code, out, err = await gantry(temporal_address, worker, "get", "projectconfig", "-p", project)
    assert code == 1 and f"project {project} has no ProjectConfig applied" in err, out + err

    # promote --downstream-from: refused while the Freight is not verified in dev, then to both
    code, out, err = await gantry(temporal_address, worker, "promote", "-p", project, "--downstream-from", "dev", "--freight", first["name"])
    assert code == 1 and "is not verified in stage dev" in err and "started" not in out, out + err
    assert (await (await worker.gantry.promote(project, "dev", first["name"])).result()).phase == "Succeeded"
    code, out, err = await gantry(
        temporal_address, worker, "promote", "-p", project, "--downstream-from", "dev", "--freight", first["name"], "--wait"
    )
    assert code == 0, out + err
    assert re.findall(r"promotion (\w+)\.\S+: Succeeded", out) == ["prod", "staging"], out
    assert "newTag: 7.0.0" in repo.show("env/prod/kustomization.yaml", "prod") and "newTag: 7.0.0" in repo.show("env/staging/kustomization.yaml")

    # refresh stage: auto-promotion switched on after the Freight was verified upstream
    second = await worker.gantry.create_freight(project, {"origin": origin, "images": [{"repoURL": "registry.test/app", "tag": "7.1.0"}]})
    assert (await (await worker.gantry.promote(project, "dev", second["name"])).result()).phase == "Succeeded"
    code, out, err = await gantry(temporal_address, worker, "refresh", "stage", "staging", "-p", project)
    assert code == 0 and "auto-promotion is off" in err, out + err
    config = f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: {project}, namespace: {project}}}
spec:
  promotionPolicies:
  - stageSelector:
      matchExpressions: [{{key: tier, operator: In, values: [test]}}]
    autoPromotionEnabled: true
  - stageSelector: {{name: "glob:stag*"}}
    autoPromotionEnabled: true
"""
    await apply_text(worker.gantry, config)
    code, out, err = await gantry(temporal_address, worker, "refresh", "stage", "staging", "-p", project)
    assert code == 0 and f"offered freight {second['name'][:12]} (from dev)" in err, out + err
    assert "stage staging: freight" in out, out

    async def staging_has_second() -> bool:
        views = {s.name: s for s in await worker.gantry.stages(project)}
        return views["staging"].freight == second["name"]

    await wait_for(staging_has_second, timeout=60, message="refresh stage to auto-promote the newest verified Freight")
    views = {s.name: s for s in await worker.gantry.stages(project)}
    assert views["prod"].freight == first["name"], "prod has no auto-promotion: refresh of staging leaves it alone"

    # get projectconfig: Kargo-shaped, one schema, JSON and YAML alike; the table per Stage
    doc = await get_both(temporal_address, worker, "get", "projectconfig", "-p", project)
    validate(doc, "ProjectConfig")
    assert doc["spec"]["promotionPolicies"][0]["stageSelector"]["matchExpressions"][0]["values"] == ["test"]
    assert {s["name"]: (s.get("policy"), s["autoPromotionEnabled"]) for s in doc["status"]["stages"]} == {
        "dev": (None, False), "prod": (None, False), "staging": (1, True),
    }
    code, out, err = await gantry(temporal_address, worker, "get", "projectconfig", "-p", project)
    assert code == 0, out + err
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[0].split() == ["STAGE", "POLICY", "AUTO-PROMOTION"] and "1: name=glob:stag*" in out, out
