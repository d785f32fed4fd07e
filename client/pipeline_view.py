"""Drawing the pipeline and the Freight timeline in a terminal (pure: plain data in, rich
renderables and JSON-able data out; client/commands/pipeline.py does the I/O).

`render_pipeline` draws Warehouses and Stages as boxes in columns by depth, joined by
arrows; a pipeline too wide for the terminal becomes a tree (each node lists the Stages it
feeds; a Stage fed by several appears once, under its deepest upstream, "also from" the
others). `render_timeline` is Kargo's Freight timeline as a table: one row per Freight,
newest first, one column per Stage in pipeline order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from pipeline.freight import artifact_summary
from pipeline.graph import Node, PipelineGraph

__all__ = [
    "FreightRef",
    "WarehouseState",
    "StageState",
    "PipelineView",
    "verification_of",
    "render_pipeline",
    "render_graph",
    "render_tree",
    "TimelineRow",
    "timeline_rows",
    "timeline_data",
    "render_timeline",
    "short_duration",
    "rfc3339",
]


def rfc3339(at: datetime | None) -> str | None:
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_duration(seconds: float) -> str:
    """35s, 42m, 1h12m, 2d3h; rounded up (a soak with 20 s left is not "0s", 61 s is "2m")."""
    total = max(math.ceil(seconds), 0)
    if total < 60:
        return f"{total}s"
    minutes = math.ceil(total / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


# -- the data ----------------------------------------------------------------------------


@dataclass
class FreightRef:
    name: str
    alias: str | None = None

    @property
    def label(self) -> str:
        return self.alias or self.name[:12]

    def data(self) -> dict[str, Any]:
        return {"name": self.name, "alias": self.alias}


@dataclass
class WarehouseState:
    name: str
    freight: FreightRef | None = None
    started: bool = True
    last_discovery: datetime | None = None
    error: str = ""

    @property
    def discovery_failed(self) -> bool:
        return bool(self.error)

    def data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "freight": self.freight.data() if self.freight else None,
            "lastDiscoveryAt": rfc3339(self.last_discovery),
            "discoveryFailed": self.discovery_failed,
            "error": self.error or None,
        }


@dataclass
class StageState:
    name: str
    upstream: list[str] = field(default_factory=list)
    direct: list[str] = field(default_factory=list)
    depth: int = 1
    freight: FreightRef | None = None
    since: datetime | None = None
    #: the phase of the latest verification of the current Freight (Successful, Failed,
    #: Running, Error, Inconclusive), or None
    verification: str | None = None
    verified_at: datetime | None = None
    #: seconds until the current Freight has soaked enough for the Stages downstream
    soak_remaining: float | None = None
    #: the promotion holding the Stage's lock (its name), and the Freight it promotes
    promotion: str | None = None
    promotion_freight: FreightRef | None = None
    queue: int = 0

    def data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "depth": self.depth,
            "upstream": list(self.upstream),
            "direct": list(self.direct),
            "freight": None if self.freight is None else {**self.freight.data(), "since": rfc3339(self.since)},
            "verification": None
            if self.verification is None
            else {"phase": self.verification, "verifiedAt": rfc3339(self.verified_at)},
            "soakRemaining": None if self.soak_remaining is None else int(self.soak_remaining + 0.999),
            "promotion": None
            if self.promotion is None
            else {
                "name": self.promotion,
                "freight": self.promotion_freight.data() if self.promotion_freight else None,
            },
            "queue": self.queue,
        }


@dataclass
class PipelineView:
    project: str
    graph: PipelineGraph
    warehouses: list[WarehouseState]
    stages: list[StageState]

    def stage(self, name: str) -> StageState:
        return next(s for s in self.stages if s.name == name)

    def warehouse(self, name: str) -> WarehouseState:
        return next(w for w in self.warehouses if w.name == name)

    def data(self) -> dict[str, Any]:
        order = {name: i for i, name in enumerate(self.graph.stage_order())}
        return {
            "project": self.project,
            "warehouses": [w.data() for w in self.warehouses],
            "stages": [s.data() for s in sorted(self.stages, key=lambda s: order.get(s.name, len(order)))],
        }


def verification_of(
    stage: str,
    freight: dict[str, Any] | None,
    records: list[dict[str, Any]],
    running: bool = False,
) -> tuple[str | None, datetime | None]:
    """The phase of the latest verification of the Stage's current Freight, and when it
    counted as verified. `records` are the Stage's verification runs, newest first;
    `running`: a verification of this Freight runs now. A Stage without verification counts
    its Freight verified when its promotion succeeds (Kargo's implicit verification):
    `verifiedIn` says Successful then, with no run to show for it."""
    if freight is None:
        return None, None
    name = freight.get("name")
    verified = ((freight.get("status") or {}).get("verifiedIn") or {}).get(stage) or {}
    verified_at = _parse(verified.get("verifiedAt"))
    if running:
        return "Running", verified_at
    for record in records:
        if record.get("freight") == name and record.get("phase"):
            return str(record["phase"]), verified_at
    if verified:
        return "Successful", verified_at
    return None, None


def _parse(text: Any) -> datetime | None:
    if not text:
        return None
    if isinstance(text, datetime):
        return text
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


# -- what a node says --------------------------------------------------------------------

Segment = tuple[str, str]  # text, style
Line = list[Segment]

_PHASES = {
    "Successful": ("✓ verified", "green"),
    "Failed": ("✗ failed", "red"),
    "Running": ("⟳ verifying", "yellow"),
    "Error": ("✗ error", "red"),
    "Inconclusive": ("? inconclusive", "yellow"),
}


def _verification_line(stage: StageState) -> Line:
    if stage.freight is None and stage.verification is None:
        return []
    if stage.verification is None:
        return [("· unverified", "dim")]
    text, style = _PHASES.get(stage.verification, (stage.verification.lower(), "yellow"))
    return [(text, style)]


def _soak_line(stage: StageState) -> Line:
    if stage.soak_remaining is None:
        return []
    if stage.soak_remaining <= 0:
        return [("soaked", "green")]
    return [(f"{short_duration(stage.soak_remaining)} to soak", "yellow")]


def _promotion_line(stage: StageState) -> Line:
    queued = f" +{stage.queue}" if stage.queue else ""
    if stage.promotion:
        return [("▶ promoting" + queued, "cyan")]
    if stage.queue:
        return [(f"{stage.queue} queued", "cyan")]
    return []


def _freight_line(freight: FreightRef | None) -> Line:
    return [(freight.label, "bold")] if freight else [("no freight", "dim")]


def stage_lines(stage: StageState) -> list[Line]:
    return [_freight_line(stage.freight), _verification_line(stage), _soak_line(stage), _promotion_line(stage)]


def warehouse_lines(warehouse: WarehouseState) -> list[Line]:
    if not warehouse.started:
        state: Line = [("not started", "dim")]
    elif warehouse.discovery_failed:
        state = [("✗ discovery failed", "red")]
    else:
        state = [("✓ discovery ok", "green")]
    return [_freight_line(warehouse.freight), state]


def _line_text(line: Line) -> str:
    return "".join(text for text, _ in line)


def _truncate(line: Line, width: int) -> Line:
    if len(_line_text(line)) <= width:
        return line
    out: Line = []
    room = width - 1
    for text, style in line:
        if room <= 0:
            break
        out.append((text[:room], style))
        room -= len(text[:room])
    out.append(("…", out[-1][1] if out else ""))
    return out


# -- the drawing: boxes in columns, arrows between ---------------------------------------

#: text columns of a box at its narrowest (below that the tree is drawn instead)
MIN_TEXT = 12
STAGE_HEIGHT = 6  # border, 4 lines, border
WAREHOUSE_HEIGHT = 4  # border, 2 lines, border

_U, _D, _L, _R = 1, 2, 4, 8
_JOINS = {
    _L: "─", _R: "─", _L | _R: "─", _U: "│", _D: "│", _U | _D: "│",
    _D | _R: "┌", _D | _L: "┐", _U | _R: "└", _U | _L: "┘",
    _U | _D | _R: "├", _U | _D | _L: "┤", _L | _R | _D: "┬", _L | _R | _U: "┴",
    _U | _D | _L | _R: "┼",
}  # fmt: skip


class _Canvas:
    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], tuple[str, str]] = {}
        self.lines: dict[tuple[int, int], int] = {}

    def put(self, x: int, y: int, text: str, style: str = "") -> None:
        for i, char in enumerate(text):
            self.cells[(x + i, y)] = (char, style)

    def link(self, x: int, y: int, bits: int) -> None:
        self.lines[(x, y)] = self.lines.get((x, y), 0) | bits

    def hline(self, x0: int, x1: int, y: int) -> None:
        """A line from x0 to x1 (inclusive), open at both ends."""
        for x in range(x0, x1 + 1):
            self.link(x, y, _L | _R)

    def vline(self, x: int, y0: int, y1: int) -> None:
        top, bottom = min(y0, y1), max(y0, y1)
        for y in range(top, bottom + 1):
            self.link(x, y, (_D if y < bottom else 0) | (_U if y > top else 0))

    def text(self) -> Text:
        for (x, y), bits in self.lines.items():
            if (x, y) not in self.cells:
                self.cells[(x, y)] = (_JOINS[bits], "")
        height = max((y for _, y in self.cells), default=-1) + 1
        width = max((x for x, _ in self.cells), default=-1) + 1
        out = Text()
        for y in range(height):
            row = [self.cells.get((x, y), (" ", "")) for x in range(width)]
            while row and row[-1][0] == " ":
                row.pop()
            for char, style in row:
                out.append(char, style=style or None)
            if y < height - 1:
                out.append("\n")
        return out


def _box(canvas: _Canvas, x: int, y: int, width: int, title: str, lines: list[Line], border: str) -> None:
    title = title if len(title) <= width - 5 else title[: width - 6] + "…"
    canvas.put(x, y, "┌ ", border)
    canvas.put(x + 2, y, title, "bold")
    canvas.put(x + 2 + len(title), y, " " + "─" * (width - 4 - len(title)) + "┐", border)
    for i, line in enumerate(lines, start=1):
        canvas.put(x, y + i, "│ ", border)
        cx = x + 2
        for text, style in _truncate(line, width - 4):
            canvas.put(cx, y + i, text, style)
            cx += len(text)
        canvas.put(cx, y + i, " " * (x + width - 2 - cx) + " │", border)
    canvas.put(x, y + len(lines) + 1, "└" + "─" * (width - 2) + "┘", border)


def render_graph(view: PipelineView, width: int = 80) -> Text | None:
    """The pipeline as boxes in columns by depth with arrows between them, or None when it
    does not fit in `width` columns."""
    layout = view.graph.layout()
    contents: dict[str, tuple[str, list[Line], str]] = {}
    for slot, node in layout.nodes.items():
        if node.kind == "Stage":
            contents[slot] = (node.name, stage_lines(view.stage(node.name)), "blue")
        else:
            contents[slot] = (node.name, warehouse_lines(view.warehouse(node.name)), "magenta")

    # rows: each slot's top row and the row its edges attach to (a box's first line)
    top: dict[str, int] = {}
    attach: dict[str, int] = {}
    ups: dict[str, list[str]] = {}
    for source, target in layout.edges:
        ups.setdefault(target, []).append(source)
    for column in layout.columns:
        free = 0
        for slot in column:
            offset = 0 if layout.is_dummy(slot) else 1
            placed = [attach[u] for u in ups.get(slot, []) if u in attach]
            wanted = min(placed) - offset if placed else free
            top[slot] = max(free, wanted)
            attach[slot] = top[slot] + offset
            height = 1 if layout.is_dummy(slot) else 2 + len(contents[slot][1])
            free = top[slot] + height + 1

    # the arrows between column c and c + 1: a vertical lane per source that must change row
    gutters: list[list[tuple[str, list[str], int | None]]] = []  # (source, targets, lane)
    for c in range(len(layout.columns) - 1):
        groups: list[tuple[str, list[str]]] = []
        for slot in layout.columns[c]:
            targets = [t for s, t in layout.edges if s == slot]
            if targets:
                targets.sort(key=lambda t: attach[t])
                groups.append((slot, targets))
        spans = []
        for source, targets in groups:
            rows = [attach[source]] + [attach[t] for t in targets]
            spans.append((min(rows), max(rows)) if min(rows) != max(rows) else None)
        lanes: list[int] = []  # each lane's last row in use
        assigned: list[int | None] = []
        for span in spans:
            if span is None:
                assigned.append(None)
                continue
            lane = next((i for i, end in enumerate(lanes) if end < span[0]), None)
            if lane is None:
                lanes.append(span[1])
                lane = len(lanes) - 1
            else:
                lanes[lane] = span[1]
            assigned.append(lane)
        gutters.append([(s, t, lane) for (s, t), lane in zip(groups, assigned)])
    # "─▶" straight on; with lanes, lane k at 1 + 2k and the arrow heads last
    lane_counts = [1 + max((lane for _, _, lane in g if lane is not None), default=-1) for g in gutters]
    gutter_widths = [2 * n + 1 if n else 2 for n in lane_counts]

    # column widths: as wide as their text, narrowed (widest first) to fit
    widths = []
    for column in layout.columns:
        need = MIN_TEXT + 4
        for slot in column:
            if not layout.is_dummy(slot):
                title, lines, _ = contents[slot]
                need = max(need, len(title) + 5, *(len(_line_text(line)) + 4 for line in lines))
        widths.append(need)
    while sum(widths) + sum(gutter_widths) > width and max(widths) > MIN_TEXT + 4:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    if sum(widths) + sum(gutter_widths) > width:
        return None

    canvas = _Canvas()
    x = 0
    lefts = []
    for c, column in enumerate(layout.columns):
        lefts.append(x)
        for slot in column:
            if layout.is_dummy(slot):
                canvas.hline(x, x + widths[c] - 1, attach[slot])
            else:
                title, lines, border = contents[slot]
                _box(canvas, x, top[slot], widths[c], title, lines, border)
        x += widths[c] + (gutter_widths[c] if c < len(gutter_widths) else 0)
    for c, gutter in enumerate(gutters):
        start = lefts[c] + widths[c]
        end = lefts[c + 1] - 1  # the arrow heads' column
        for source, targets, lane in gutter:
            y = attach[source]
            if lane is None:
                canvas.hline(start, end - 1, y)
                _arrive(canvas, end, y, layout.is_dummy(targets[0]))
                continue
            # the upper a source, the further right its lane: lines going down then cross none
            lane_x = start + 1 + 2 * (lane_counts[c] - 1 - lane)
            canvas.hline(start, lane_x - 1, y)
            canvas.link(lane_x, y, _L)
            canvas.vline(lane_x, min([y] + [attach[t] for t in targets]), max([y] + [attach[t] for t in targets]))
            for target in targets:
                ty = attach[target]
                canvas.link(lane_x, ty, _R)
                canvas.hline(lane_x + 1, end - 1, ty)
                _arrive(canvas, end, ty, layout.is_dummy(target))
    return canvas.text()


def _arrive(canvas: _Canvas, x: int, y: int, passing: bool) -> None:
    """An arrow head at a box; a plain line into a placeholder the edge passes through."""
    if passing:
        canvas.hline(x, x, y)
    else:
        canvas.put(x, y, "▶")


# -- the tree (narrow terminals, wide pipelines) -----------------------------------------


def _tree_label(title: str, lines: list[Line], room: int, note: str = "", style: str = "bold") -> Text:
    """`title  line  line  (note)` on one row when it fits in `room`, else the title and the
    rest on the next row, else one row each."""
    parts = [line for line in lines if line]
    if note:
        parts.append([(f"({note})", "dim")])
    rest = sum(2 + len(_line_text(p)) for p in parts)
    if len(title) + rest <= room:
        separators = ["  "] * len(parts)
    elif rest - 2 <= room:
        separators = ["\n"] + ["  "] * (len(parts) - 1)
    else:
        separators = ["\n"] * len(parts)
    label = Text(title, style=style)
    for separator, part in zip(separators, parts):
        label.append(separator)
        for text, seg_style in part:
            label.append(text, style=seg_style or None)
    return label


def render_tree(view: PipelineView, width: int = 80) -> Tree:
    """Warehouses at the root, each node listing the Stages it feeds; a Stage with several
    upstreams appears once, under the deepest (then first drawn), "also from" the others."""
    graph = view.graph
    layout = graph.layout()
    position = {slot: (c, i) for c, column in enumerate(layout.columns) for i, slot in enumerate(column)}
    children: dict[Node, list[Node]] = {}
    also: dict[Node, list[str]] = {}
    for stage in graph.stages:
        node = Node("Stage", stage)
        ups = sorted(graph.upstream(node), key=lambda n: (-graph.depth[n], position[n.id]))
        if not ups:
            continue
        children.setdefault(ups[0], []).append(node)
        also[node] = [u.name if u.kind == "Stage" else f"warehouse {u.name}" for u in ups[1:]]
    tree = Tree(Text(f"pipeline {view.project}", style="bold"), guide_style="dim")

    def add(branch: Tree, node: Node, level: int) -> None:
        for child in sorted(children.get(node, []), key=lambda n: position[n.id]):
            state = view.stage(child.name)
            note = "also from " + ", ".join(also[child]) if also.get(child) else ""
            label = _tree_label(child.name, stage_lines(state), width - 4 * level, note)
            add(branch.add(label), child, level + 1)

    for name in sorted(graph.warehouses, key=lambda w: position[Node("Warehouse", w).id]):
        label = _tree_label(f"warehouse {name}", warehouse_lines(view.warehouse(name)), width - 4, style="bold magenta")
        add(tree.add(label), Node("Warehouse", name), 2)
    return tree


def render_pipeline(view: PipelineView, width: int = 80) -> RenderableType:
    """Boxes and arrows when they fit in `width`, else the tree."""
    if not view.graph.depth:
        return Text(f"project {view.project} has no Warehouses or Stages")
    drawn = render_graph(view, width)
    return drawn if drawn is not None else render_tree(view, width)


# -- the Freight timeline ----------------------------------------------------------------


@dataclass
class TimelineCell:
    here: bool = False
    was: bool = False
    verified: bool = False
    soaking: bool = False

    @property
    def mark(self) -> str:
        if self.here:
            return "●◷" if self.soaking else ("●✓" if self.verified else "●")
        if self.was or self.verified:
            return "○✓" if self.verified else "○"
        return ""

    def data(self) -> dict[str, bool]:
        return {"currentlyIn": self.here, "wasIn": not self.here and (self.was or self.verified), "verifiedIn": self.verified, "soaking": self.soaking}


@dataclass
class TimelineRow:
    freight: dict[str, Any]
    cells: dict[str, TimelineCell]

    @property
    def name(self) -> str:
        return str(self.freight.get("name", ""))

    @property
    def alias(self) -> str:
        return str(self.freight.get("alias") or "")


LEGEND = "● here now   ○ was here   ✓ verified there   ◷ soaking (verified, soak not over)"


def timeline_rows(
    freight: list[dict[str, Any]],
    stages: list[str],
    histories: dict[str, list[dict[str, Any]]],
    graph: PipelineGraph,
    now: datetime,
) -> list[TimelineRow]:
    """One row per Freight, newest first; a cell per Stage: here now (`currentlyIn`), was
    here (the Stage's history), verified there (`verifiedIn`), soaking (here, verified, and
    not yet soaked as long as a downstream Stage requires)."""
    visited = {stage: {v.get("freight") for v in histories.get(stage) or []} for stage in stages}
    rows = []
    for item in sorted(freight, key=lambda f: str(f.get("discoveredAt") or ""), reverse=True):
        status = item.get("status") or {}
        current = status.get("currentlyIn") or {}
        verified = status.get("verifiedIn") or {}
        cells = {}
        for stage in stages:
            here = stage in current
            is_verified = stage in verified
            remaining = graph.soak_remaining(stage, item, now) if here and is_verified else None
            cells[stage] = TimelineCell(
                here=here,
                was=not here and item.get("name") in visited.get(stage, set()),
                verified=is_verified,
                soaking=bool(remaining and remaining > 0),
            )
        rows.append(TimelineRow(freight=item, cells=cells))
    return rows


def _age(freight: dict[str, Any], now: datetime) -> str:
    discovered = _parse(freight.get("discoveredAt"))
    if discovered is None:
        return ""
    if discovered.tzinfo is None:
        discovered = discovered.replace(tzinfo=timezone.utc)
    seconds = max((now - discovered).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def timeline_data(rows: list[TimelineRow], stages: list[str]) -> dict[str, Any]:
    return {
        "stages": list(stages),
        "freight": [
            {
                "name": row.name,
                "alias": row.alias or None,
                "artifacts": artifact_summary(row.freight),
                "discoveredAt": rfc3339(_parse(row.freight.get("discoveredAt"))),
                "stages": {stage: cell.data() for stage, cell in row.cells.items() if cell.mark},
            }
            for row in rows
        ],
    }


_MARK_STYLES = {"●": "bold green", "○": "dim"}


def render_timeline(rows: list[TimelineRow], stages: list[str], now: datetime, width: int = 80) -> RenderableType:
    """The timeline table and its legend, `width` columns wide at most (artifacts are cut)."""
    if not rows:
        return Text("No freight found.")
    table = Table(box=None, pad_edge=False, header_style="bold")
    # every column keeps its width but the artifacts, which are cut to what is left
    fixed = [max(len("FREIGHT"), *(len(r.alias) for r in rows)), 12, max(3, *(len(_age(r.freight, now)) for r in rows))]
    fixed += [max(len(stage), 2) for stage in stages]
    room = max(width - sum(fixed) - 2 * len(fixed), 10)
    table.add_column("FREIGHT", no_wrap=True, min_width=fixed[0])
    table.add_column("NAME", no_wrap=True, min_width=12)
    table.add_column("ARTIFACTS", no_wrap=True, overflow="ellipsis", max_width=room)
    table.add_column("AGE", no_wrap=True, justify="right", min_width=fixed[2])
    for stage in stages:
        table.add_column(stage.upper(), no_wrap=True, justify="center", min_width=max(len(stage), 2))
    for row in rows:
        marks = []
        for stage in stages:
            mark = row.cells[stage].mark
            marks.append(Text(mark, style=_MARK_STYLES.get(mark[:1], "") or None))
        table.add_row(row.alias, row.name[:12], artifact_summary(row.freight), _age(row.freight, now), *marks)
    return Group(table, Text(""), Text(LEGEND, style="dim"))
