"""`yaml-parse`: read values out of a YAML file with expressions.

Each ``outputs[i].fromExpression`` is an expr-lang expression (no ``${{ }}``) evaluated
with the parsed document as its environment, exactly as Kargo's code does it: the
document's top-level keys are the variables (``image.tag``, ``apps["uat"].replicas``).
The document must therefore be a mapping. Each result becomes the output
``outputs[i].name``.

Values are read as JSON would hold them (Kargo converts YAML to JSON first): timestamps
become strings and keys become strings.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError
from temporalio import activity

from activities.steps import _safe_paths
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.json_parse import JSONParseConfig
from contracts.step_configs.yaml_parse import YAMLParseConfig
from pipeline import yamlsafe


def jsonable(value: Any) -> Any:
    """A parsed value as plain JSON types (what Temporal can carry and expr-lang sees)."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, bool) else ("true" if k else "false"): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def read_file(base: Path, config: YAMLParseConfig | JSONParseConfig) -> tuple[str, str]:
    path = config.path
    target = resolve_path(base, path)
    if not target.is_file():
        raise step_failed(f"config field 'path': file {path!r} does not exist")
    return path, _safe_paths.read_text(target, "path", path)


def extract(document: Any, config: YAMLParseConfig | JSONParseConfig, path: str) -> dict[str, Any]:
    """Evaluate every ``outputs[i].fromExpression`` over ``document``."""
    rules = [(i, o.name, o.from_expression) for i, o in enumerate(config.outputs)]
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise step_failed(
            f"config field 'path': {path!r} must hold a mapping at the top level for 'outputs' expressions, it is {kind}"
        )
    from pipeline.expressions import ExpressionError, evaluate

    results: dict[str, Any] = {}
    for i, name, expression in rules:
        try:
            value = evaluate(expression, document)
        except ExpressionError as e:
            raise step_failed(f"config field 'outputs[{i}].fromExpression': {expression!r}: {e}") from None
        except Exception as e:  # a deterministic evaluation failure: retrying cannot help
            raise step_failed(f"config field 'outputs[{i}].fromExpression': {expression!r}: {e}") from None
        results[name] = jsonable(value)
    return results


def _run(base: Path, config: YAMLParseConfig) -> dict[str, Any]:
    path, text = read_file(base, config)
    if not text.strip():
        raise step_failed(f"config field 'path': {path!r} is empty")
    try:
        docs = yamlsafe.load_all(text)  # bounded: alias bombs and deep nesting are refused
    except YAMLError as e:
        raise step_failed(f"config field 'path': {path!r} is not valid YAML: {e}") from None
    document = jsonable(docs[0]) if docs else None
    return extract(document, config, path)


@activity.defn(name="yaml-parse")
async def yaml_parse(input: StepInput) -> StepResult:
    """Evaluate ``outputs`` over the YAML file at ``path``; the results are the outputs."""
    config = typed_config(YAMLParseConfig, input)
    base = require_workdir(input.promotion)
    results = await run_blocking(_run, base, config)
    activity.logger.info("yaml-parse: %d output(s) from %s", len(results), config.path)
    return StepResult(outputs=results)
