"""`gantry get pipeline` and `get freight --timeline` as a terminal shows them at 80 columns
(client/pipeline_view.py), from plain data: no server."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console

from client.manifests import load_paths
from client.pipeline_view import (
    FreightRef,
    PipelineView,
    StageState,
    WarehouseState,
    render_graph,
    render_pipeline,
    render_timeline,
    short_duration,
    timeline_data,
    timeline_rows,
    verification_of,
)
from pipeline.graph import build_graph
from pipeline.manifests import ManifestSet, Stage

SEED = Path(__file__).parent.parent.parent / "examples" / "seed-pipeline" / "manifests.yaml"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
A = FreightRef("a1" * 20, "brave-falcon")
B = FreightRef("b2" * 20, "swift-otter")
C = FreightRef("c3" * 20, "calm-heron")
D = FreightRef("d4" * 20, "quiet-lynx")


def render(renderable, width: int = 80) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def expected(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def seed_graph():
    pm = ManifestSet().merge(load_paths([str(SEED)]).manifests).projects["seed-pipeline"]
    return build_graph(pm.warehouses, pm.stages)


def seed_view() -> PipelineView:
    """calm-heron verified in dev and being promoted to staging (one more queued), where
    swift-otter soaks 42 more minutes before prod may take it; prod's brave-falcon failed
    verification."""
    return PipelineView(
        "seed-pipeline",
        seed_graph(),
        [WarehouseState("my-warehouse", C, last_discovery=NOW)],
        [
            StageState("dev", [], ["my-warehouse"], 1, C, NOW - timedelta(minutes=30), "Successful", NOW - timedelta(minutes=29)),
            StageState(
                "staging", ["dev"], [], 2, B, NOW - timedelta(hours=2), "Successful", NOW - timedelta(minutes=18),
                soak_remaining=42 * 60, promotion="staging.0195abc.c3c3c3c", promotion_freight=C, queue=1,
            ),  # fmt: skip
            StageState("prod", ["staging"], [], 3, A, NOW - timedelta(days=1), "Failed", None),
        ],
    )


def stage(name: str, *, direct: bool = False, ups: tuple[str, ...] = (), origin: str = "w") -> Stage:
    sources: dict = {"direct": direct, "stages": list(ups)}
    return Stage.model_validate(
        {"metadata": {"name": name}, "spec": {"requestedFreight": [{"origin": {"name": origin}, "sources": sources}]}}
    )


def view_of(warehouses: list[str], *stages: Stage, states: dict[str, StageState] | None = None) -> PipelineView:
    graph = build_graph(warehouses, {s.metadata.name: s for s in stages})
    states = states or {}
    return PipelineView(
        "demo",
        graph,
        [WarehouseState(w, D) for w in graph.warehouses],
        [states.get(s) or StageState(s, graph.upstream_stages(s), graph.direct_warehouses(s)) for s in graph.stages],
    )


SEED_80 = """
┌ my-warehouse ──┐  ┌ dev ─────────┐  ┌ staging ───────┐  ┌ prod ────────┐
│ calm-heron     │─▶│ calm-heron   │─▶│ swift-otter    │─▶│ brave-falcon │
│ ✓ discovery ok │  │ ✓ verified   │  │ ✓ verified     │  │ ✗ failed     │
└────────────────┘  │              │  │ 42m to soak    │  │              │
                    │              │  │ ▶ promoting +1 │  │              │
                    └──────────────┘  └────────────────┘  └──────────────┘
"""


def test_the_seed_pipeline_at_80_columns() -> None:
    assert render(render_pipeline(seed_view(), 80)) == expected(SEED_80)


SEED_60 = """
pipeline seed-pipeline
└── warehouse my-warehouse  calm-heron  ✓ discovery ok
    └── dev  calm-heron  ✓ verified
        └── staging
            swift-otter
            ✓ verified
            42m to soak
            ▶ promoting +1
            └── prod  brave-falcon  ✗ failed
"""


def test_the_seed_pipeline_in_60_columns_is_a_tree() -> None:
    assert render_graph(seed_view(), 60) is None
    assert render(render_pipeline(seed_view(), 60), 60) == expected(SEED_60)


FAN_80 = """
┌ w ─────────────┐  ┌ dev ─────────┐   ┌ eu ──────────┐   ┌ prod ────────┐
│ quiet-lynx     │─▶│ calm-heron   │─┬▶│ no freight   │─┬▶│ no freight   │
│ ✓ discovery ok │  │ ✓ verified   │ │ │              │ │ │              │
└────────────────┘  │ soaked       │ │ │              │ │ │              │
                    │              │ │ │              │ │ │              │
                    └──────────────┘ │ └──────────────┘ │ └──────────────┘
                                     │                  │
                                     │ ┌ us ──────────┐ │
                                     └▶│ no freight   │─┘
                                       │              │
                                       │              │
                                       │              │
                                       └──────────────┘
"""


def test_fan_out_and_fan_in_at_80_columns() -> None:
    view = view_of(
        ["w"],
        stage("dev", direct=True),
        stage("eu", ups=("dev",)),
        stage("us", ups=("dev",)),
        stage("prod", ups=("eu", "us")),
        states={"dev": StageState("dev", freight=C, verification="Successful", soak_remaining=0)},
    )
    assert render(render_pipeline(view, 80)) == expected(FAN_80)


TWO_WAREHOUSES_80 = """
┌ config ────────────┐   ┌ qa ──────────┐
│ quiet-lynx         │──▶│ no freight   │
│ ✓ discovery ok     │   │              │
└────────────────────┘   │              │
                         │              │
┌ images ────────────┐   └──────────────┘
│ quiet-lynx         │─┐
│ ✗ discovery failed │ │ ┌ dev ─────────┐   ┌ hotfix ──────┐
└────────────────────┘ ├▶│ no freight   │─┬▶│ no freight   │
                       │ │              │ │ │              │
                       │ │              │ │ │              │
                       │ │              │ │ │              │
                       │ └──────────────┘ │ └──────────────┘
                       │                  │
                       └──────────────────┘
"""


def test_two_warehouses_and_an_edge_that_skips_a_column() -> None:
    view = view_of(
        ["images", "config"],
        stage("dev", direct=True, origin="images"),
        stage("hotfix", direct=True, ups=("dev",), origin="images"),
        stage("qa", direct=True, origin="config"),
    )
    view.warehouse("images").error = "cannot reach registry"
    assert render(render_pipeline(view, 80)) == expected(TWO_WAREHOUSES_80)


WIDE_80 = """
pipeline demo
└── warehouse w  quiet-lynx  ✓ discovery ok
    └── s1  no freight
        ├── s2  no freight
        │   └── s3  no freight
        │       └── s4  no freight
        │           └── s5  no freight
        │               └── s6  no freight
        │                   └── last  no freight  (also from side)
        └── side  no freight
"""


def test_a_pipeline_wider_than_the_terminal_is_a_tree_and_a_second_upstream_is_named() -> None:
    chain = [stage("s1", direct=True)] + [stage(f"s{i}", ups=(f"s{i - 1}",)) for i in range(2, 7)]
    view = view_of(["w"], *chain, stage("side", ups=("s1",)), stage("last", ups=("s6", "side")))
    assert render_graph(view, 80) is None
    assert render(render_pipeline(view, 80)) == expected(WIDE_80)


def test_every_line_fits_in_80_columns() -> None:
    wide = view_of(["w"], *[stage("s1", direct=True)] + [stage(f"s{i}", ups=(f"s{i - 1}",)) for i in range(2, 9)])
    for view in (seed_view(), wide):
        text = render(render_pipeline(view, 80))
        assert max(len(line) for line in text.splitlines()) <= 80


def test_pipeline_data_is_camel_case_with_utc_timestamps() -> None:
    data = seed_view().data()
    assert [w["name"] for w in data["warehouses"]] == ["my-warehouse"]
    assert data["warehouses"][0] == {
        "name": "my-warehouse",
        "freight": {"name": C.name, "alias": "calm-heron"},
        "lastDiscoveryAt": "2025-03-01T12:00:00Z",
        "discoveryFailed": False,
        "error": None,
    }
    assert [s["name"] for s in data["stages"]] == ["dev", "staging", "prod"], "pipeline order"
    staging = data["stages"][1]
    assert staging == {
        "name": "staging",
        "depth": 2,
        "upstream": ["dev"],
        "direct": [],
        "freight": {"name": B.name, "alias": "swift-otter", "since": "2025-03-01T10:00:00Z"},
        "verification": {"phase": "Successful", "verifiedAt": "2025-03-01T11:42:00Z"},
        "soakRemaining": 2520,
        "promotion": {"name": "staging.0195abc.c3c3c3c", "freight": {"name": C.name, "alias": "calm-heron"}},
        "queue": 1,
    }
    assert data["stages"][2]["verification"] == {"phase": "Failed", "verifiedAt": None}


def test_verification_of_the_current_freight() -> None:
    freight = {"name": "f1", "status": {"verifiedIn": {"dev": {"verifiedAt": "2025-03-01T11:00:00+00:00"}}}}
    at = datetime(2025, 3, 1, 11, 0, tzinfo=timezone.utc)
    runs = [{"freight": "f2", "phase": "Failed"}, {"freight": "f1", "phase": "Successful"}, {"freight": "f1", "phase": "Failed"}]
    assert verification_of("dev", freight, runs) == ("Successful", at), "the newest run of this Freight"
    assert verification_of("dev", freight, runs, running=True) == ("Running", at)
    assert verification_of("dev", freight, []) == ("Successful", at), "implicit verification: verifiedIn"
    unverified = {"name": "f2", "status": {}}
    assert verification_of("dev", unverified, runs) == ("Failed", None)
    assert verification_of("dev", {"name": "f3"}, runs) == (None, None)
    assert verification_of("dev", None, runs) == (None, None)


def test_short_durations_round_up() -> None:
    assert [short_duration(s) for s in (0, 0.2, 59, 61, 42 * 60, 3599, 3600, 4320, 86400 + 3 * 3600)] == [
        "0s", "1s", "59s", "2m", "42m", "1h00m", "1h00m", "1h12m", "1d3h",
    ]  # fmt: skip


def timeline_freight(ref: FreightRef, minutes: int, tag: str, current=(), verified=()) -> dict:
    return {
        "name": ref.name,
        "alias": ref.alias,
        "origin": {"kind": "Warehouse", "name": "my-warehouse"},
        "images": [{"repoURL": "my-registry/my-app", "tag": tag}],
        "discoveredAt": (NOW - timedelta(minutes=minutes)).isoformat(),
        "status": {
            "currentlyIn": {s: {"since": NOW.isoformat()} for s in current},
            "verifiedIn": {s: {"verifiedAt": (NOW - timedelta(minutes=18)).isoformat()} for s in verified},
        },
    }


def seed_timeline():
    graph = seed_graph()
    stages = graph.stage_order()
    items = [  # as the store lists them: not necessarily by age
        timeline_freight(B, 200, "1.1.0", ["staging"], ["dev", "staging"]),
        timeline_freight(D, 5, "1.3.0"),
        timeline_freight(A, 3000, "1.0.0", ["prod"], ["dev", "staging"]),
        timeline_freight(C, 31, "1.2.0", ["dev"], ["dev"]),
    ]
    histories = {
        "dev": [{"freight": C.name}, {"freight": B.name}, {"freight": A.name}],
        "staging": [{"freight": B.name}, {"freight": A.name}],
        "prod": [{"freight": A.name}],
    }
    return timeline_rows(items, stages, histories, graph, NOW), stages


TIMELINE_80 = """
FREIGHT       NAME          ARTIFACTS                 AGE  DEV  STAGING  PROD
quiet-lynx    d4d4d4d4d4d4  my-registry/my-app:1.3.0   5m
calm-heron    c3c3c3c3c3c3  my-registry/my-app:1.2.0  31m  ●✓
swift-otter   b2b2b2b2b2b2  my-registry/my-app:1.1.0   3h  ○✓     ●◷
brave-falcon  a1a1a1a1a1a1  my-registry/my-app:1.0.0   2d  ○✓     ○✓      ●

● here now   ○ was here   ✓ verified there   ◷ soaking (verified, soak not over)
"""


def test_the_freight_timeline_of_the_seed_pipeline_at_80_columns() -> None:
    rows, stages = seed_timeline()
    assert stages == ["dev", "staging", "prod"]
    assert render(render_timeline(rows, stages, NOW)) == expected(TIMELINE_80)


def test_the_timeline_as_data() -> None:
    rows, stages = seed_timeline()
    data = timeline_data(rows, stages)
    assert data["stages"] == ["dev", "staging", "prod"]
    assert [f["alias"] for f in data["freight"]] == ["quiet-lynx", "calm-heron", "swift-otter", "brave-falcon"]
    assert data["freight"][0]["stages"] == {}
    assert data["freight"][2] == {
        "name": B.name,
        "alias": "swift-otter",
        "artifacts": "my-registry/my-app:1.1.0",
        "discoveredAt": "2025-03-01T08:40:00Z",
        "stages": {
            "dev": {"currentlyIn": False, "wasIn": True, "verifiedIn": True, "soaking": False},
            "staging": {"currentlyIn": True, "wasIn": False, "verifiedIn": True, "soaking": True},
        },
    }


def test_a_long_artifact_list_is_cut_to_fit_80_columns() -> None:
    rows, stages = seed_timeline()
    rows[0].freight["images"] = [{"repoURL": f"registry.example.com/team/service-{i}", "tag": "1.0.0"} for i in range(5)]
    text = render(render_timeline(rows, stages, NOW))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "quiet-lynx    d4d4d4d4d4d4  registry.example.com/team/…   5m" in text
    assert "FREIGHT       NAME          ARTIFACTS                    AGE  DEV  STAGING  PROD" in text
