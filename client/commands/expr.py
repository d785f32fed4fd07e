"""`gantry expr`: evaluate an expression the way a promotion step would, to debug templates.

    gantry expr 'imageFrom("my-registry/my-app").Tag' --freight-file freight.yaml
    gantry expr 'stage/${{ ctx.stage }}' --stage uat --vars '{"x": 1}' -o json
    gantry expr 'result[0] < 0.05' --result '[0.01]'
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pipeline.expressions import ExpressionError, evaluate, has_expression, promotion_env, render
from pipeline.expressions.goformat import go_json
from pipeline.expressions.rollouts import condition_env

ALIAS_LABEL = "kargo.akuity.io/alias"


class ExprOutput(str, Enum):
    text = "text"
    json = "json"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _json_option(value: str | None, flag: str) -> Any:
    if value is None:
        return None
    from pipeline.yamlsafe import json_loads

    try:
        return json_loads(value)
    except ValueError as exc:
        _fail(f"{flag} is not valid JSON: {exc}")


def freight_from_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A Freight manifest (kind: Freight, name under metadata) or a bare freight dict, as the API shape."""
    metadata = doc.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return {
        "name": doc.get("name") or metadata.get("name") or "",
        "alias": doc.get("alias") or labels.get(ALIAS_LABEL) or "",
        "origin": doc.get("origin") or {"kind": "Warehouse", "name": ""},
        "images": doc.get("images") or [],
        "commits": doc.get("commits") or [],
        "charts": doc.get("charts") or [],
    }


def load_freight_file(path: Path) -> list[dict[str, Any]]:
    """Freight from a YAML or JSON file: one document, several, or a list."""
    try:
        text = path.read_text()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc}")
    from ruamel.yaml import YAMLError

    from pipeline import yamlsafe

    try:
        docs = [d for d in yamlsafe.load_all(text) if d]  # JSON is YAML too
    except YAMLError as exc:
        _fail(f"{path} is not valid YAML or JSON: {exc}")
    freight: list[dict[str, Any]] = []
    for doc in docs:
        items = doc if isinstance(doc, list) else doc.get("items", [doc]) if isinstance(doc, dict) else []
        freight.extend(freight_from_document(item) for item in items if isinstance(item, dict))
    if not freight:
        _fail(f"{path} holds no Freight")
    return freight


def _fetch(project: str, name: str) -> dict[str, Any]:
    from client.api import fetch_freight

    try:
        return asyncio.run(fetch_freight(project, name))
    except Exception as exc:  # connection or lookup failure: report, do not trace
        _fail(f"cannot fetch Freight {name!r} in project {project!r}: {exc}")
        raise  # unreachable; keeps type checkers quiet


def expr(
    expression: Annotated[str, typer.Argument(help="an expr-lang expression, or text with ${{ }} in it")],
    vars_json: Annotated[Optional[str], typer.Option("--vars", help="vars as a JSON object")] = None,
    outputs_json: Annotated[Optional[str], typer.Option("--outputs", help="outputs of earlier steps, a JSON object")] = None,
    result_json: Annotated[
        Optional[str], typer.Option("--result", help="evaluate as an analysis condition over this JSON result")
    ] = None,
    freight_file: Annotated[
        Optional[Path], typer.Option("--freight-file", help="Freight as YAML or JSON (one or more)")
    ] = None,
    freight_name: Annotated[Optional[str], typer.Option("--freight", help="fetch this Freight (name or alias)")] = None,
    project: Annotated[str, typer.Option("--project", "-p", help="project (for --freight and ctx.project)")] = "default",
    stage: Annotated[str, typer.Option("--stage", "-s", help="ctx.stage")] = "stage",
    output: Annotated[ExprOutput, typer.Option("-o", "--output", help="text or json")] = ExprOutput.text,
) -> None:
    """Evaluate an expression the way a promotion step would and print the result."""
    if result_json is not None:
        env = condition_env(_json_option(result_json, "--result"))
    else:
        freight: list[dict[str, Any]] = []
        if freight_file is not None:
            freight.extend(load_freight_file(freight_file))
        if freight_name:
            freight.append(_fetch(project, freight_name))
        variables = _json_option(vars_json, "--vars") or {}
        outputs = _json_option(outputs_json, "--outputs") or {}
        if not isinstance(variables, dict) or not isinstance(outputs, dict):
            _fail("--vars and --outputs must be JSON objects")
        env = promotion_env(
            project=project,
            stage=stage,
            promotion="gantry-expr",
            freight=freight,
            vars=variables,
            outputs=outputs,
            actor="gantry expr",
            now=datetime.now(timezone.utc),
        )
    try:
        value = render(expression, env, source="expr") if has_expression(expression) else evaluate(expression, env)
        text = go_json(value, indent="  ") if output == ExprOutput.json or not isinstance(value, str) else value
    except ExpressionError as err:
        _fail(str(err))
    typer.echo(text)


def register(app: typer.Typer) -> None:
    """Add `gantry expr` to the CLI."""
    app.command("expr")(expr)
