"""client/documents.py and client/output.py without a server: the documents follow their
schemas (docs/schemas/), times come in one form, promotion names are accepted by unique
prefix, and tables keep names whole while free text wraps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from client.api import GantryError, pick_promotion
from client.documents import (
    StageFacts,
    analysis_run_document,
    current_verification,
    freight_document,
    item_list,
    project_document,
    promotion_document,
    promotion_from_listing,
    rfc3339,
    soak_text,
    soaks,
    stage_document,
    warehouse_document,
)
from client.output import Col, OutputFormat, emit
from pipeline.analysis.measurement import Measurement
from pipeline.manifests import Stage, parse_documents
from workflows.messages import PromotionStatus, StageLockView, StageView, StepExecution
from workflows.verification import MetricView, VerificationStatus
from workflows.warehouse import WarehouseStatus

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
NAME = "a" * 40
PROMOTION_ID = f"promotion/shop/uat/uat.0192f3a4b5c6d7e8f9a0b.{NAME[:7]}"


def valid(document: dict, kind: str) -> dict:
    jsonschema.validate(document, json.loads((SCHEMAS / f"{kind.lower()}.json").read_text()))
    return document


def record(**status) -> dict:
    return {
        "name": NAME,
        "alias": "brave-badger",
        "origin": {"kind": "Warehouse", "name": "app"},
        "images": [{"repoURL": "my-registry/app", "tag": "1.1.0"}],
        "discoveredAt": "2026-12-01T09:00:00.123456+00:00",
        "status": status,
    }


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 1, 10, 0, 0, 500, tzinfo=timezone.utc),
        datetime(2026, 12, 1, 11, 0, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 12, 1, 10, 0, 0),
        "2026-12-01T10:00:00+00:00",
        "2026-12-01T10:00:00.123Z",
        "2026-12-01T10:00:00Z",
    ],
)
def test_one_time_format(value) -> None:
    assert rfc3339(value) == "2026-12-01T10:00:00Z"


def test_freight_is_kargo_shaped() -> None:
    found = record(currentlyIn={"uat": {"since": "2026-12-01T09:30:00.5+00:00"}},
                   verifiedIn={"uat": {"verifiedAt": "2026-12-01T09:40:00+00:00"}})  # fmt: skip
    doc = valid(freight_document(found, "shop"), "Freight")
    assert doc["metadata"] == {"name": NAME, "namespace": "shop", "creationTimestamp": "2026-12-01T09:00:00Z"}
    assert doc["alias"] == "brave-badger" and doc["images"][0]["tag"] == "1.1.0" and "discoveredAt" not in doc
    assert doc["status"]["currentlyIn"]["uat"]["since"] == "2026-12-01T09:30:00Z"
    valid(item_list([doc], "token"), "List")


def test_a_promotion_has_one_name_in_list_and_get() -> None:
    listed = valid(
        promotion_from_listing(
            "shop",
            {"id": PROMOTION_ID, "name": PROMOTION_ID.rsplit("/", 1)[-1], "stage": "uat", "freight": NAME,
             "phase": "Succeeded", "started": "2026-12-01T09:00:00+00:00", "finished": "2026-12-01T09:01:00+00:00",
             "status": "completed"},  # fmt: skip
        ),
        "Promotion",
    )
    status = PromotionStatus(
        name=PROMOTION_ID, project="shop", stage="uat", freight=NAME, actor="alice", phase="Succeeded",
        steps=[StepExecution(alias="clone", uses="git-clone", status="Succeeded", started_at=NOW, finished_at=NOW)],
        started_at=NOW, finished_at=NOW, verification="Successful: all good", verification_id="verification/shop/uat/x",
    )  # fmt: skip
    got = valid(promotion_document("shop", status), "Promotion")
    assert listed["metadata"]["name"] == got["metadata"]["name"] == "uat.0192f3a4b5c6d7e8f9a0b.aaaaaaa"
    assert listed["status"]["workflowId"] == got["status"]["workflowId"] == PROMOTION_ID
    assert got["spec"]["steps"] == [{"uses": "git-clone", "as": "clone"}]
    assert got["status"]["stepExecutionMetadata"][0]["startedAt"] == "2026-12-01T10:00:00Z"
    assert got["metadata"]["annotations"] == {"kargo.akuity.io/create-actor": "alice"}
    assert got["status"]["verification"]["phase"] == "Successful"


def test_promotion_names_are_accepted_by_unique_prefix() -> None:
    other = PROMOTION_ID.replace("0192f3a4b5", "0192f3ffff")
    ids = [PROMOTION_ID, other]
    short = PROMOTION_ID.rsplit("/", 1)[-1]
    assert pick_promotion(short, ids, "shop") == PROMOTION_ID
    assert pick_promotion(short[:12], ids, "shop") == PROMOTION_ID
    with pytest.raises(GantryError, match=r"'uat.0192f3' is ambiguous or too short: give at least 7 characters"):
        pick_promotion("uat.0192f3", ids, "shop")
    with pytest.raises(GantryError, match="ambiguous or too short"):
        pick_promotion("uat.01", [PROMOTION_ID], "shop")
    with pytest.raises(GantryError, match="does not exist in project shop"):
        pick_promotion("prod.0192f3a4", ids, "shop")


def test_warehouse_status_is_camel_case() -> None:
    status = WarehouseStatus(project="shop", warehouse="app", last_pass_at=NOW, last_freight=NAME, passes=3,
                             discovered={"discoveredAt": "2026-12-01T10:00:00.25+00:00", "images": []})  # fmt: skip
    doc = valid(warehouse_document("shop", "app", {"spec": {"interval": "5m"}}, status), "Warehouse")
    assert doc["status"]["lastFreightID"] == NAME and doc["status"]["lastPassAt"] == "2026-12-01T10:00:00Z"
    assert doc["status"]["discoveredArtifacts"]["discoveredAt"] == "2026-12-01T10:00:00Z"
    assert valid(warehouse_document("shop", "app", None, None), "Warehouse")["status"]["phase"] == "NotStarted"


def test_analysis_run() -> None:
    status = VerificationStatus(
        id="verification/shop/uat/uat.x", phase="Successful", started_at=NOW, finished_at=NOW, stage="uat", freight=NAME,
        metrics=[MetricView(name="smoke", phase="Successful", measurements=[Measurement(value=0, phase="Successful", started_at=NOW)])],
    )  # fmt: skip
    doc = valid(analysis_run_document("shop", status), "AnalysisRun")
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["metadata"]["name"] == "uat.x"
    assert doc["status"]["metricResults"][0]["measurements"][0]["value"] == "0"


STAGES = """apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: uat, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {direct: true}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: prod, namespace: shop}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {stages: [uat], requiredSoakTime: 1h}
"""


def stage_models() -> dict:
    return {d.data["metadata"]["name"]: Stage.model_validate(d.data) for d in parse_documents(STAGES, "stages.yaml")}


def test_soak_left_towards_downstream() -> None:
    models = stage_models()
    verified = record(currentlyIn={"uat": {"since": "2026-12-01T09:40:00+00:00"}},
                      verifiedIn={"uat": {"verifiedAt": "2026-12-01T09:50:00+00:00"}})  # fmt: skip
    assert soak_text(soaks("uat", verified, models), NOW) == "50m00s left"
    assert soak_text(soaks("uat", verified, models), NOW + timedelta(hours=1)) == "done"
    assert soak_text(soaks("uat", record(currentlyIn={"uat": {"since": "2026-12-01T09:40:00+00:00"}}), models), NOW) == ""
    assert soak_text(soaks("prod", verified, models), NOW) == "", "nothing downstream of prod"


def test_stage_verification_is_the_current_freights_latest() -> None:
    models = stage_models()
    found = record(currentlyIn={"uat": {"since": "2026-12-01T09:40:00+00:00"}},
                   verifiedIn={"uat": {"verifiedAt": "2026-12-01T09:50:00+00:00"}})  # fmt: skip
    runs = [
        {"id": "verification/shop/uat/b", "freight": NAME, "phase": "Successful", "finishedAt": "2026-12-01T09:50:00+00:00"},
        {"id": "verification/shop/uat/a", "freight": "b" * 40, "phase": "Failed", "finishedAt": "2026-12-01T09:00:00+00:00"},
    ]
    facts = StageFacts(
        view=StageView(name="uat", freight=NAME, freight_alias="brave-badger", since=NOW, promotion=PROMOTION_ID, verification=True),
        manifest={"spec": models["uat"].to_yaml_dict()["spec"]},
        lock=StageLockView(queue=[PROMOTION_ID]),
        verifications=runs,
        freight={NAME: found},
    )  # fmt: skip
    assert current_verification(facts)["phase"] == "Successful"
    doc = valid(stage_document("shop", facts, models, NOW), "Stage")
    assert doc["status"]["verification"]["phase"] == "Successful"
    assert doc["status"]["freightHistory"][0]["items"]["Warehouse/app"]["name"] == NAME
    assert doc["status"]["lock"]["queue"] == [PROMOTION_ID.rsplit("/", 1)[-1]]
    assert doc["status"]["soak"][0] == {"downstream": "prod", "requiredSoakTime": "1h0m0s",
                                        "soakedAt": "2026-12-01T10:50:00Z", "remaining": "50m0s"}  # fmt: skip
    assert doc["status"]["health"] == {"status": "Healthy"}
    facts.verifications = runs[1:]
    assert current_verification(facts) is None, "a run of other Freight is not this Freight's"
    empty = StageFacts(view=StageView(name="prod"))
    assert valid(stage_document("shop", empty, models, NOW), "Stage")["status"]["health"]["status"] == "Unknown"
    valid(project_document("shop"), "Project")


def test_tables_keep_names_whole_and_wrap_free_text(capsys: pytest.CaptureFixture[str]) -> None:
    long_name = "dev.0192f3a4b5c6d7e8f9a0b.abcdef0-with-a-long-tail-that-would-not-fit"
    rows = [{"name": long_name, "tag": "registry.example.com/team/app:1.10.0-rc.1", "message": "word " * 60}]
    emit(rows, ["name", "tag", "message", Col("WORKFLOW ID", "id", wide=True)], OutputFormat.table)
    out = capsys.readouterr().out
    assert long_name in out and "registry.example.com/team/app:1.10.0-rc.1" in out and "…" not in out
    assert len(out.splitlines()) > 3, "the message wraps"
    assert "WORKFLOW ID" not in out
    emit(rows, ["name", Col("WORKFLOW ID", "id", wide=True)], OutputFormat.wide)
    assert "WORKFLOW ID" in capsys.readouterr().out
