"""`json-update`: set values in a JSON file, keeping the rest of the text as it was.

Keys use Kargo's (sjson) path syntax: ``image.tag``, ``items.0.name``, ``items.-1`` to
append, ``example\\.com/version`` for a literal dot. As in Kargo (and unlike
``yaml-update``) a missing key is created, and values must be strings, numbers or
booleans. Only the edited values change in the file: spacing, key order and indentation
stay.

Idempotent: setting the same values again leaves the file as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps._json_edit import JSONEditError, parse_document, set_value
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.json_update import JSONUpdateConfig


def _shown(value: Any) -> str:
    """A value as Kargo's commit message shows it: strings quoted, others as they are."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _run(base: Path, config: JSONUpdateConfig) -> str:
    path = config.path
    target = resolve_path(base, path)
    if not target.is_file():
        raise step_failed(f"config field 'path': file {path!r} does not exist")
    original = _safe_paths.read_text(target, "path", path)
    try:
        parse_document(original)
    except JSONEditError as e:
        raise step_failed(f"config field 'path': {path!r} is not valid JSON: {e}") from None
    text = original
    lines = []
    for i, u in enumerate(config.updates):
        key, value = u.key, u.value
        if value is None or isinstance(value, (dict, list)):
            raise step_failed(f"config field 'updates[{i}].value' must be a string, number or boolean")
        try:
            text = set_value(text, key, value)
        except JSONEditError as e:
            raise step_failed(f"config field 'updates[{i}].key': cannot set {key!r}: {e}") from None
        lines.append(f"- {key}: {_shown(value)}")
    if text != original:
        _safe_paths.write_file(None, target, text, field="path")
    return f"Updated {path}\n\n" + "\n".join(lines)


@activity.defn(name="json-update")
async def json_update(input: StepInput) -> StepResult:
    """Apply ``updates`` to the JSON file at ``path``; output ``commitMessage``."""
    config = typed_config(JSONUpdateConfig, input)
    base = require_workdir(input.promotion)
    message = await run_blocking(_run, base, config)
    activity.logger.info("json-update: updated %s", config.path)
    return StepResult(outputs={"commitMessage": message})
