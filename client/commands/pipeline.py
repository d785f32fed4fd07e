"""`gantry get pipeline` (the Stage graph at a glance) and `gantry get freight --timeline`
(which Freight has been where). The drawing is client/pipeline_view.py; this reads the
project's state through the client API."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timezone
from typing import Any

import typer
from rich.console import Console

from client.output import OutputFormat

__all__ = ["register", "collect_pipeline", "show_timeline"]


def _print_data(data: Any, output: OutputFormat) -> None:
    if output == OutputFormat.json:
        print(json.dumps(data, indent=2))
        return
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    print(buffer.getvalue(), end="")


def _out() -> Console:
    """Stdout, as wide as the terminal (or $COLUMNS; 80 when neither says)."""
    return Console()


async def _or_none(coro: Any) -> Any:
    from client.api import GantryError

    try:
        return await coro
    except GantryError:
        return None


async def collect_pipeline(gantry: Any, project: str, now: datetime | None = None):
    """Everything `get pipeline` shows, read from the project, its Stages and Warehouses."""
    from client.pipeline_view import FreightRef, PipelineView, StageState, WarehouseState, verification_of
    from pipeline.graph import Node, build_graph
    from pipeline.manifests import ManifestSet

    now = now or datetime.now(timezone.utc)
    manifests = ManifestSet.model_validate(await gantry.manifests(project))
    pm = manifests.projects.get(project)
    graph = build_graph(pm.warehouses if pm else [], pm.stages if pm else {})
    views = {s.name: s for s in await gantry.stages(project)}

    async def stage_state(name: str) -> StageState:
        view = views.get(name)
        current = view.freight if view else None
        lock, records, freight = await asyncio.gather(
            gantry.stage_lock(project, name),
            gantry.verification_history(project, name),
            _or_none(gantry.get_freight(project, current)) if current else asyncio.sleep(0),
        )
        holder = lock.holder if lock else None
        promoting = await _or_none(gantry.promotion_status(holder)) if holder else None
        running = bool(
            promoting and promoting.verification == "Running" and current and promoting.freight == current
        )
        phase, verified_at = verification_of(name, freight, records or [], running)
        return StageState(
            name=name,
            upstream=graph.upstream_stages(name),
            direct=graph.direct_warehouses(name),
            depth=graph.depth.get(Node("Stage", name), 1),
            freight=FreightRef(current, view.freight_alias if view else None) if current else None,
            since=view.since if view else None,
            verification=phase,
            verified_at=verified_at,
            soak_remaining=graph.soak_remaining(name, freight, now) if freight else None,
            promotion=holder.rsplit("/", 1)[-1] if holder else None,
            promotion_freight=FreightRef(promoting.freight, promoting.freight_alias or None)
            if promoting and promoting.freight
            else None,
            queue=len(lock.queue) if lock else 0,
        )

    async def warehouse_state(name: str) -> WarehouseState:
        status = await gantry.warehouse_status(project, name)
        if status is None:
            return WarehouseState(name=name, started=False)
        freight = FreightRef(status.last_freight, status.last_freight_alias) if status.last_freight else None
        return WarehouseState(name=name, freight=freight, last_discovery=status.last_pass_at, error=status.error)

    stages = await asyncio.gather(*(stage_state(name) for name in graph.stages))
    warehouses = await asyncio.gather(*(warehouse_state(name) for name in graph.warehouses))
    return PipelineView(project=project, graph=graph, warehouses=list(warehouses), stages=list(stages))


async def show_timeline(
    gantry: Any, project: str, *, limit: int, token: str | None, warehouse: str | None, output: OutputFormat
) -> str | None:
    """Print the Freight timeline (one row per Freight, newest first; a column per Stage in
    pipeline order); returns the token of the next page, if any."""
    from client.pipeline_view import render_timeline, timeline_data, timeline_rows
    from pipeline.graph import build_graph
    from pipeline.manifests import ManifestSet

    now = datetime.now(timezone.utc)
    manifests = ManifestSet.model_validate(await gantry.manifests(project))
    pm = manifests.projects.get(project)
    graph = build_graph(pm.warehouses if pm else [], pm.stages if pm else {})
    stages = graph.stage_order()
    page = await gantry.freight_page(project, limit=limit, token=token, warehouse=warehouse)
    histories = dict(zip(stages, await asyncio.gather(*(gantry.stage_history(project, s) for s in stages))))
    rows = timeline_rows(page.items, stages, histories, graph, now)
    if output == OutputFormat.table:
        out = _out()
        out.print(render_timeline(rows, stages, now, out.width))
    else:
        _print_data(timeline_data(rows, stages), output)
    return page.next_token


def register(app: typer.Typer) -> None:
    from client.cli import OutputOpt, ProjectOpt, _connect, get_app, run

    @get_app.command("pipeline")
    def get_pipeline(project: str = ProjectOpt, output: OutputFormat = OutputOpt) -> None:
        """The pipeline at a glance: Warehouses, Stages, their Freight, verification, soak, promotions."""
        from client.api import GantryError
        from client.pipeline_view import render_pipeline
        from pipeline.graph import GraphCycleError

        async def go() -> None:
            gantry = await _connect()
            try:
                view = await collect_pipeline(gantry, project)
            except GraphCycleError as err:
                raise GantryError(str(err)) from None
            if output == OutputFormat.table:
                out = _out()
                out.print(render_pipeline(view, out.width), soft_wrap=False)
            else:
                _print_data(view.data(), output)

        run(go())


def get_freight_timeline(
    project: str, limit: int, token: str | None, warehouse: str | None, output: OutputFormat
) -> None:
    """`gantry get freight --timeline` (client/cli.py's `get freight` calls this)."""
    from client.cli import _connect, run
    from client.output import errors

    async def go() -> None:
        gantry = await _connect()
        next_token = await show_timeline(gantry, project, limit=limit, token=token, warehouse=warehouse, output=output)
        if next_token:  # on stderr, so JSON and YAML on stdout stay one document
            errors.print(
                f"more: gantry get freight -p {project} --timeline --limit {limit} --continue {next_token}", soft_wrap=True
            )

    run(go())
