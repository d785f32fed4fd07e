"""`toml-update`: set scalar values of existing keys in a TOML file, keeping comments,
order and formatting (tomlkit writes back everything it did not change as it was).

Keys use Kargo's (sjson) path syntax, as ``yaml-update`` does: ``image.tag``,
``values.1`` for an array element (also of an array of tables: ``servers.0.host``),
``labels.example\\.com/version`` for a key with a literal dot. As in Kargo, only existing
keys holding scalars (string, number, boolean) can be updated, so a typo fails the step
instead of adding a key. Output ``commitMessage``: ``Updated <path>`` and one
``- <key>: <value as TOML>`` line per update.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from temporalio import activity

from activities.steps import _safe_paths, _toml
from activities.steps._keys import KeySyntaxError, key_names
from activities.steps._typed_config import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed
from contracts.step_configs.toml_update import TomlUpdateConfig


def _scalar(value: Any, field: str) -> Any:
    if isinstance(value, (dict, list)) or value is None:
        raise step_failed(f"config field {field!r} must be a string, number or boolean (TOML has no null)")
    return value


def _locate(doc: Any, parts: list[str], field: str, key: str) -> tuple[Any, Any]:
    """The table or array holding the addressed scalar, and its key or index."""
    node: Any = doc
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if part not in node:
                raise step_failed(f"config field {field!r}: key {key!r} not found in the file (no {here!r})")
            sel: Any = part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise step_failed(f"config field {field!r}: {here!r} is not an element of the array")
            sel = int(part)
        else:
            raise step_failed(f"config field {field!r}: key {key!r} not found in the file ({here!r} is below a scalar)")
        if depth == len(parts) - 1:
            if isinstance(node[sel], (dict, list)):
                raise step_failed(f"config field {field!r}: {key!r} holds a table or array; only scalars can be updated")
            return node, sel
        node = node[sel]
    raise step_failed(f"config field {field!r} must not be empty")


def _run(base: Path, config: TomlUpdateConfig) -> str:
    target, doc = _toml.load(base, config.path)
    lines = []
    for i, update in enumerate(config.updates):
        value = _scalar(update.value, f"updates[{i}].value")
        try:
            parts = key_names(update.key)
        except KeySyntaxError as e:
            raise step_failed(f"config field 'updates[{i}].key': {e}") from None
        parent, sel = _locate(doc, parts, f"updates[{i}].key", update.key)
        parent[sel] = value
        lines.append(f"- {update.key}: {tomlkit.item(value).as_string()}")
    _safe_paths.write_file(base, target, tomlkit.dumps(doc), field="path")
    return f"Updated {config.path}\n\n" + "\n".join(lines)


@activity.defn(name="toml-update")
async def toml_update(input: StepInput) -> StepResult:
    """Apply ``updates`` to the TOML file at ``path``; output ``commitMessage``."""
    config = typed_config(TomlUpdateConfig, input)
    base = require_workdir(input.promotion)
    message = await run_blocking(_run, base, config)
    activity.logger.info("toml-update: updated %s", config.path)
    return StepResult(outputs={"commitMessage": message})
