"""Printing results as a table, JSON or YAML (`-o table|wide|json|yaml`), docs/cli.md.

Tables never cut what one copies: names, aliases, ids, tags and times are printed whole
(`no_wrap`, and the table widens past the terminal, or past the 80 columns rich assumes when
stdout is not a terminal, rather than shorten them); only free text (messages, status,
errors) wraps and folds, in at least FREE_MIN_WIDTH columns.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

console = Console()
#: errors are never broken into lines by rich (a terminal wraps them; a pipe gets one line each)
errors = Console(stderr=True, soft_wrap=True)

#: the narrowest a free-text column gets before the table widens instead
FREE_MIN_WIDTH = 40
#: columns given by name that are free text (wrap and fold); every other column is kept whole
FREE_TEXT = frozenset({"message", "status", "stages", "error", "reason"})


class OutputFormat(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


@dataclass(frozen=True)
class Col:
    """A table column: `key` in the rows (default: the header in lower case); `free` text
    wraps, everything else is printed whole; `wide` columns show only with `-o wide`."""

    header: str
    key: str = ""
    free: bool = False
    wide: bool = False

    @property
    def field(self) -> str:
        return self.key or self.header.lower()


Column = Union[str, Col]


def _col(column: Column) -> Col:
    return column if isinstance(column, Col) else Col(column.upper(), column, free=column in FREE_TEXT)


def to_plain(value: Any) -> Any:
    """Models and datetimes to JSON-able data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def print_data(data: Any, fmt: OutputFormat) -> None:
    """JSON or YAML of `data` on stdout."""
    data = to_plain(data)
    if fmt == OutputFormat.json:
        print(json.dumps(data, indent=2, default=str))
        return
    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    print(buffer.getvalue(), end="")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _width(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def print_table(rows: list[dict[str, Any]], columns: list[Column], *, wide: bool = False) -> None:
    cols = [c for c in map(_col, columns) if wide or not c.wide]
    cells = [[_cell(row.get(c.field)) for c in cols] for row in rows]
    natural = [max([_width(c.header)] + [_width(r[i]) for r in cells]) for i, c in enumerate(cols)]
    needed = sum(n if not c.free else min(n, FREE_MIN_WIDTH) for n, c in zip(natural, cols)) + 2 * (len(cols) - 1)
    out = Console(width=max(console.width, needed))
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, size in zip(cols, natural):
        if col.free:
            table.add_column(col.header, overflow="fold")
        else:
            table.add_column(col.header, no_wrap=True, overflow="ignore", min_width=size)
    for row in cells:
        table.add_row(*row)
    out.print(table)


def emit(
    rows: list[dict[str, Any]],
    columns: list[Column],
    fmt: OutputFormat,
    *,
    raw: Any = None,
    title: str = "",
) -> None:
    """Print `rows` as a table (`wide` adds the wide columns), or `raw` (default: rows) as
    JSON or YAML."""
    if fmt in (OutputFormat.json, OutputFormat.yaml):
        print_data(raw if raw is not None else rows, fmt)
        return
    if not rows:
        console.print(f"No {title or 'resources'} found.")
        return
    print_table(rows, columns, wide=fmt == OutputFormat.wide)
