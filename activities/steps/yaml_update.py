"""`yaml-update`: set scalar values of existing keys in a YAML file, keeping comments.

Keys use Kargo's (sjson) path syntax: ``image.tag``; ``containers.0.image`` for a list
index; ``example\\.com/version`` for a key with a literal dot (split by ``_keys.split_key``,
shared with ``json-update``). Like Kargo, only existing
keys holding scalars can be updated, so a typo fails the step instead of adding a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.scalarstring import ScalarString
from temporalio import activity

from activities.steps import _yaml
from activities.steps._common import typed_config
from activities.steps._keys import KeySyntaxError, key_names
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.yaml_update import YAMLUpdateConfig


def _locate(doc: Any, parts: list[str], field: str, key: str) -> tuple[Any, Any]:
    """The container holding the addressed value, and the key or index within it."""
    node: Any = doc
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            match = next((k for k in node if str(k) == part), _MISSING)
            if match is _MISSING:
                raise step_failed(f"config field {field!r}: key {key!r} not found in the file (no {here!r})")
            sel: Any = match
        elif isinstance(node, list):
            try:
                sel = int(part)
            except ValueError:
                raise step_failed(f"config field {field!r}: {here!r} is a list, {part!r} is not an index") from None
            if not -len(node) <= sel < len(node):
                raise step_failed(f"config field {field!r}: index {sel} out of range in {here!r}")
        else:
            raise step_failed(f"config field {field!r}: key {key!r} not found in the file ({here!r} is below a scalar)")
        if depth == len(parts) - 1:
            if isinstance(node[sel], (dict, list)):
                raise step_failed(f"config field {field!r}: {key!r} holds a mapping or list; only scalars can be updated")
            return node, sel
        node = node[sel]
    raise step_failed(f"config field {field!r} must not be empty")


_MISSING = object()


def _new_value(old: Any, value: Any) -> Any:
    # Keep the quoting style the file used for this value.
    if isinstance(old, ScalarString) and isinstance(value, str):
        return type(old)(value)
    return _yaml.typed(value)


def _run(base: Path, config: YAMLUpdateConfig) -> str:
    path = config.path
    target = resolve_path(base, path)
    if not target.is_file():
        raise step_failed(f"config field 'path': file {path!r} does not exist")
    y, docs, text = _yaml.load(target)
    if not docs:
        raise step_failed(f"config field 'path': {path!r} holds no YAML document")
    lines = []
    for i, u in enumerate(config.updates):
        key, value = u.key, u.value
        if isinstance(value, (dict, list)):
            raise step_failed(f"config field 'updates[{i}].value' must be a string, number, boolean or null")
        try:
            parts = key_names(key)
        except KeySyntaxError as e:
            raise step_failed(f"config field 'updates[{i}].key': {e}") from None
        parent, sel = _locate(docs[0], parts, f"updates[{i}].key", key)
        parent[sel] = _new_value(parent[sel], value)
        lines.append(f"- {key}: {_yaml.quote_if_necessary(value)}")
    _yaml.dump(target, y, docs, text)
    return f"Updated {path}\n\n" + "\n".join(lines)


@activity.defn(name="yaml-update")
async def yaml_update(input: StepInput) -> StepResult:
    """Apply ``updates`` to the YAML file at ``path``; output ``commitMessage``."""
    config = typed_config(YAMLUpdateConfig, input)
    base = require_workdir(input.promotion)
    message = await run_blocking(_run, base, config)
    activity.logger.info("yaml-update: updated %s", config.path)
    return StepResult(outputs={"commitMessage": message})
