"""The Stage graph behind `gantry get pipeline` (pipeline/graph.py): edges, depth, layers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from client.manifests import load_paths
from pipeline.graph import GraphCycleError, Node, build_graph
from pipeline.manifests import ManifestError, ManifestSet, Stage, validate_set

SEED = Path(__file__).parent.parent.parent / "examples" / "seed-pipeline" / "manifests.yaml"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def stage(name: str, *, direct: bool = False, ups: tuple[str, ...] = (), soak: str | None = None, origin: str = "w") -> Stage:
    sources: dict = {"direct": direct}
    if ups:
        sources["stages"] = list(ups)
    if soak:
        sources["requiredSoakTime"] = soak
    return Stage.model_validate(
        {"metadata": {"name": name}, "spec": {"requestedFreight": [{"origin": {"name": origin}, "sources": sources}]}}
    )


def stages(*items: Stage) -> dict[str, Stage]:
    return {s.metadata.name: s for s in items}


def depths(graph) -> dict[str, int]:
    return {n.name: d for n, d in graph.depth.items()}


def test_the_seed_pipeline_is_a_chain_with_a_soak_before_prod() -> None:
    pm = ManifestSet().merge(load_paths([str(SEED)]).manifests).projects["seed-pipeline"]
    graph = build_graph(pm.warehouses, pm.stages)
    assert depths(graph) == {"my-warehouse": 0, "dev": 1, "staging": 2, "prod": 3}
    assert graph.edges == [
        (Node("Warehouse", "my-warehouse"), Node("Stage", "dev")),
        (Node("Stage", "staging"), Node("Stage", "prod")),
        (Node("Stage", "dev"), Node("Stage", "staging")),
    ]
    assert graph.stage_order() == ["dev", "staging", "prod"]
    assert [(s.upstream, s.downstream, s.required) for s in graph.soaks] == [("staging", "prod", timedelta(hours=1))]
    assert graph.layout().columns == [["Warehouse/my-warehouse"], ["Stage/dev"], ["Stage/staging"], ["Stage/prod"]]


def test_fan_out_puts_both_downstream_stages_in_one_column() -> None:
    graph = build_graph(["w"], stages(stage("dev", direct=True), stage("b", ups=("dev",)), stage("a", ups=("dev",))))
    assert depths(graph) == {"w": 0, "dev": 1, "a": 2, "b": 2}
    assert graph.downstream(Node("Stage", "dev")) == [Node("Stage", "a"), Node("Stage", "b")]
    assert graph.layout().columns[2] == ["Stage/a", "Stage/b"]


def test_fan_in_depth_is_the_longest_path() -> None:
    graph = build_graph(
        ["w"],
        stages(
            stage("dev", direct=True),
            stage("qa", ups=("dev",)),
            stage("uat", ups=("qa",)),
            stage("prod", ups=("dev", "uat"), soak="2h"),
        ),
    )
    assert depths(graph)["prod"] == 4, "dev -> qa -> uat -> prod, not dev -> prod"
    assert graph.upstream_stages("prod") == ["dev", "uat"]
    # the edge dev -> prod skips two columns: it passes through one placeholder in each
    layout = graph.layout()
    dummies = [slot for column in layout.columns for slot in column if layout.is_dummy(slot)]
    assert len(dummies) == 2
    column_of = {slot: c for c, column in enumerate(layout.columns) for slot in column}
    assert all(column_of[t] == column_of[s] + 1 for s, t in layout.edges), "edges join neighbouring columns only"
    assert graph.stage_order() == ["dev", "qa", "uat", "prod"]


def test_two_warehouses_and_a_stage_fed_by_both() -> None:
    both = Stage.model_validate(
        {
            "metadata": {"name": "integration"},
            "spec": {
                "requestedFreight": [
                    {"origin": {"name": "images"}, "sources": {"direct": True}},
                    {"origin": {"name": "charts"}, "sources": {"direct": True}},
                ]
            },
        }
    )
    graph = build_graph(["images", "charts"], stages(both, stage("prod", ups=("integration",), origin="images")))
    assert graph.warehouses == ["charts", "images"]
    assert depths(graph) == {"charts": 0, "images": 0, "integration": 1, "prod": 2}
    assert graph.direct_warehouses("integration") == ["images", "charts"]
    assert graph.layout().columns[0] == ["Warehouse/charts", "Warehouse/images"]


def test_a_warehouse_nothing_takes_from_is_still_drawn() -> None:
    graph = build_graph(["a", "idle"], stages(stage("dev", direct=True, origin="a")))
    assert graph.layout().columns == [["Warehouse/a", "Warehouse/idle"], ["Stage/dev"]]


def test_a_stage_with_a_direct_source_and_an_upstream_one() -> None:
    graph = build_graph(["w"], stages(stage("dev", direct=True), stage("hotfix", direct=True, ups=("dev",))))
    assert depths(graph)["hotfix"] == 2
    assert graph.direct_warehouses("hotfix") == ["w"] and graph.upstream_stages("hotfix") == ["dev"]


def test_a_cycle_is_refused_by_validation_and_named_by_the_graph(tmp_path: Path) -> None:
    cyclic = stages(stage("dev", direct=True), stage("a", ups=("dev", "b")), stage("b", ups=("a",)))
    with pytest.raises(GraphCycleError, match=r"a -> b -> a"):
        build_graph(["w"], cyclic)
    # apply never lets such a set in: the graph never sees one from a project
    docs = "\n---\n".join(
        f"apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata: {{name: {name}, namespace: p}}\n"
        f"spec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {sources}"
        for name, sources in (("dev", "{direct: true}"), ("a", "{stages: [dev, b]}"), ("b", "{stages: [a]}"))
    )
    warehouse = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w, namespace: p}\nspec: {subscriptions: [{image: {repoURL: r}}]}\n---\n"
    path = tmp_path / "cycle.yaml"
    path.write_text(warehouse + docs)
    with pytest.raises(ManifestError, match="the Stage graph has a cycle: a -> b -> a"):
        validate_set(ManifestSet().merge(load_paths([str(path)]).manifests))


def test_an_upstream_that_does_not_exist_is_left_out() -> None:
    graph = build_graph(["w"], stages(stage("dev", direct=True), stage("prod", ups=("dev", "ghost"))))
    assert graph.upstream_stages("prod") == ["dev"]


def freight(*, verified_at: datetime | None = None, here: bool = True, longest: str | None = None, origin: str = "w") -> dict:
    status: dict = {}
    if here:
        status["currentlyIn"] = {"staging": {"since": T0.isoformat()}}
    if verified_at:
        status["verifiedIn"] = {"staging": {"verifiedAt": verified_at.isoformat(), **({"longestSoak": longest} if longest else {})}}
    return {"name": "f" * 40, "origin": {"kind": "Warehouse", "name": origin}, "status": status}


def test_soak_remaining_counts_from_verification_for_the_stage_that_requires_it() -> None:
    graph = build_graph(
        ["w"], stages(stage("dev", direct=True), stage("staging", ups=("dev",)), stage("prod", ups=("staging",), soak="1h"))
    )
    now = T0 + timedelta(minutes=20)
    assert graph.soak_remaining("staging", freight(verified_at=T0), now) == 40 * 60
    assert graph.soak_remaining("staging", freight(verified_at=T0), T0 + timedelta(hours=2)) == 0
    assert graph.soak_remaining("staging", freight(), now) is None, "not verified: the soak has not begun"
    assert graph.soak_remaining("staging", freight(verified_at=T0, here=False, longest="1h30m0s"), now) == 0
    assert graph.soak_remaining("staging", freight(verified_at=T0, here=False, longest="10m0s"), now) is None
    assert graph.soak_remaining("dev", freight(verified_at=T0), now) is None, "staging requires no soak in dev"
    assert graph.soak_remaining("staging", freight(verified_at=T0, origin="other"), now) is None


def test_soak_remaining_waits_for_the_longest_of_several_downstream_soaks() -> None:
    graph = build_graph(
        ["w"],
        stages(
            stage("staging", direct=True),
            stage("prod-eu", ups=("staging",), soak="1h"),
            stage("prod-us", ups=("staging",), soak="3h"),
        ),
    )
    assert graph.soak_remaining("staging", freight(verified_at=T0), T0 + timedelta(hours=2)) == 3600
