"""The Stage graph of a project: who feeds whom, how deep each node sits, and a layered
order to draw it in (pure: no I/O; `gantry get pipeline` draws it, client/pipeline_view.py).

Nodes are Warehouses and Stages. A Stage's `requestedFreight[].sources.direct` is an edge
from the Warehouse `origin`; `sources.stages: [a, b]` are edges from those Stages. A node's
depth is the longest path to it from a Warehouse (Warehouses are at 0), so every edge goes
from a shallower column to a deeper one. Edges that skip columns are cut into one hop per
column through placeholder slots ("dummies"), as Sugiyama-style layouts do, so a drawing only
ever joins neighbouring columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pipeline.availability import soak_end
from pipeline.durations import parse_duration
from pipeline.manifests import Stage
from pipeline.manifests.validate import stage_cycles

__all__ = ["Node", "PipelineGraph", "GraphCycleError", "build_graph", "Layout"]

Kind = Literal["Warehouse", "Stage"]


@dataclass(frozen=True, order=True)
class Node:
    kind: Kind
    name: str

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


class GraphCycleError(ValueError):
    """The Stage graph has a cycle (apply refuses such manifests; this names it anyway)."""

    def __init__(self, cycles: list[list[str]]):
        self.cycles = cycles
        text = "; ".join(" -> ".join(c + [c[0]]) for c in cycles)
        super().__init__(f"the Stage graph has a cycle: {text}")


@dataclass(frozen=True)
class Soak:
    """Freight of Warehouse `origin` must soak `required` in `upstream` before `downstream` takes it."""

    upstream: str
    downstream: str
    origin: str
    required: timedelta


@dataclass
class Layout:
    """Columns of slots, top to bottom. A slot is a node id, or a dummy id (`~...`) that
    carries an edge through a column it skips; `edges` join slots of neighbouring columns."""

    columns: list[list[str]]
    edges: list[tuple[str, str]]
    nodes: dict[str, Node]

    def is_dummy(self, slot: str) -> bool:
        return slot not in self.nodes


@dataclass
class PipelineGraph:
    warehouses: list[str]
    stages: list[str]
    #: (source, target) edges, Warehouse -> Stage and Stage -> Stage, each once
    edges: list[tuple[Node, Node]]
    depth: dict[Node, int]
    soaks: list[Soak] = field(default_factory=list)

    def upstream(self, node: Node) -> list[Node]:
        return [s for s, t in self.edges if t == node]

    def downstream(self, node: Node) -> list[Node]:
        return [t for s, t in self.edges if s == node]

    def upstream_stages(self, stage: str) -> list[str]:
        return [n.name for n in self.upstream(Node("Stage", stage)) if n.kind == "Stage"]

    def direct_warehouses(self, stage: str) -> list[str]:
        return [n.name for n in self.upstream(Node("Stage", stage)) if n.kind == "Warehouse"]

    def layout(self) -> Layout:
        return _layout(self)

    def stage_order(self) -> list[str]:
        """Stages in pipeline order: by depth, then top to bottom as drawn."""
        order: list[str] = []
        for column in self.layout().columns:
            order += [slot.split("/", 1)[1] for slot in column if slot.startswith("Stage/")]
        return order

    def soak_remaining(self, stage: str, freight: dict[str, Any], now: datetime) -> float | None:
        """Seconds until `freight` has soaked in `stage` as long as every downstream Stage that
        requires a soak from it asks (0 once it has); None when no downstream Stage requires
        one, or the Freight is not verified in `stage` (its soak has not begun), or it left
        before soaking enough (it never will)."""
        origin = (freight.get("origin") or {}).get("name")
        remaining: list[float] = []
        for soak in self.soaks:
            if soak.upstream != stage or soak.origin != origin:
                continue
            end = soak_end(freight, stage, soak.required)
            if end is not None:
                remaining.append(max((end - now).total_seconds(), 0.0))
        return max(remaining) if remaining else None


def build_graph(warehouses: Iterable[str], stages: Mapping[str, Stage]) -> PipelineGraph:
    """The graph of a project's Warehouses and Stages. A cycle raises GraphCycleError;
    sources naming a Stage that does not exist are left out (validation reports them)."""
    cycles = stage_cycles(dict(stages))
    if cycles:
        raise GraphCycleError(cycles)
    warehouse_names = set(warehouses)
    edges: list[tuple[Node, Node]] = []
    soaks: list[Soak] = []
    for name in sorted(stages):
        target = Node("Stage", name)
        for request in stages[name].spec.requested_freight:
            sources = request.sources
            if sources.direct:
                warehouse_names.add(request.origin.name)
                edges.append((Node("Warehouse", request.origin.name), target))
            for up in sources.stages:
                if up in stages:
                    edges.append((Node("Stage", up), target))
                    if sources.required_soak_time:
                        required = parse_duration(sources.required_soak_time)
                        if required > timedelta(0):
                            soaks.append(Soak(up, name, request.origin.name, required))
    unique_edges = list(dict.fromkeys(edges))
    depth: dict[Node, int] = {Node("Warehouse", w): 0 for w in warehouse_names}
    upstream: dict[Node, list[Node]] = {Node("Stage", s): [] for s in stages}
    for source, target in unique_edges:
        upstream[target].append(source)

    def depth_of(node: Node) -> int:
        if node not in depth:
            ups = upstream.get(node) or []
            # a Stage fed by nothing (refused by validation) sits next to the Warehouses
            depth[node] = 1 + max((depth_of(u) for u in ups), default=0)
        return depth[node]

    for name in sorted(stages):
        depth_of(Node("Stage", name))
    return PipelineGraph(
        warehouses=sorted(warehouse_names),
        stages=sorted(stages),
        edges=unique_edges,
        depth=depth,
        soaks=soaks,
    )


def _layout(graph: PipelineGraph) -> Layout:
    nodes = {n.id: n for n in graph.depth}
    width = max(graph.depth.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(width)]
    for node in sorted(graph.depth, key=lambda n: (n.kind != "Warehouse", n.name)):
        columns[graph.depth[node]].append(node.id)
    edges: list[tuple[str, str]] = []
    for source, target in graph.edges:
        a, b = graph.depth[source], graph.depth[target]
        previous = source.id
        for level in range(a + 1, b):  # one placeholder per skipped column
            dummy = f"~{source.id}>{target.id}@{level}"
            columns[level].append(dummy)
            edges.append((previous, dummy))
            previous = dummy
        edges.append((previous, target.id))
    ups: dict[str, list[str]] = {}
    downs: dict[str, list[str]] = {}
    for s, t in edges:
        ups.setdefault(t, []).append(s)
        downs.setdefault(s, []).append(t)

    def reorder(column: list[str], neighbours: dict[str, list[str]], positions: dict[str, int]) -> list[str]:
        def key(item: tuple[int, str]) -> tuple[float, int]:
            index, slot = item
            linked = [positions[n] for n in neighbours.get(slot, []) if n in positions]
            return (sum(linked) / len(linked) if linked else float(index), index)

        return [slot for _, slot in sorted(enumerate(column), key=key)]

    def positions_of(column: list[str]) -> dict[str, int]:
        return {slot: i for i, slot in enumerate(column)}

    # barycentre sweeps: down, up, down (enough for pipelines; deterministic)
    for level in range(1, width):
        columns[level] = reorder(columns[level], ups, positions_of(columns[level - 1]))
    for level in range(width - 2, -1, -1):
        columns[level] = reorder(columns[level], downs, positions_of(columns[level + 1]))
    for level in range(1, width):
        columns[level] = reorder(columns[level], ups, positions_of(columns[level - 1]))
    return Layout(columns=columns, edges=edges, nodes=nodes)
