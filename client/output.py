"""Printing results as a table, JSON or YAML (`-o table|json|yaml`)."""

from __future__ import annotations

import io
import json
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

console = Console()
errors = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


def to_plain(value: Any) -> Any:
    """Models and datetimes to JSON-able data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def emit(rows: list[dict[str, Any]], columns: list[str], fmt: OutputFormat, *, raw: Any = None, title: str = "") -> None:
    """Print `rows` as a table, or `raw` (default: rows) as JSON or YAML."""
    data = to_plain(raw if raw is not None else rows)
    if fmt == OutputFormat.json:
        print(json.dumps(data, indent=2, default=str))
        return
    if fmt == OutputFormat.yaml:
        yaml = YAML()
        yaml.default_flow_style = False
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        print(buffer.getvalue(), end="")
        return
    if not rows:
        console.print(f"No {title or 'resources'} found.")
        return
    table = Table(*[c.upper() for c in columns], box=None, pad_edge=False, header_style="bold")
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)
