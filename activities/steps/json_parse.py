"""`json-parse`: read values out of a JSON file with expressions.

Like ``yaml-parse``: each ``outputs[i].fromExpression`` is an expr-lang expression
evaluated with the parsed document as its environment (its top-level keys are the
variables), and each result becomes the output ``outputs[i].name``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio import activity

from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed
from activities.steps.yaml_parse import extract, read_file
from contracts.step_configs.json_parse import JSONParseConfig
from pipeline.yamlsafe import json_loads


def _run(base: Path, config: JSONParseConfig) -> dict[str, Any]:
    path, text = read_file(base, config)
    try:
        document = json_loads(text)  # too deep: a clear JSONDecodeError, not RecursionError
    except ValueError as e:
        raise step_failed(f"config field 'path': {path!r} is not valid JSON: {e}") from None
    return extract(document, config, path)


@activity.defn(name="json-parse")
async def json_parse(input: StepInput) -> StepResult:
    """Evaluate ``outputs`` over the JSON file at ``path``; the results are the outputs."""
    config = typed_config(JSONParseConfig, input)
    base = require_workdir(input.promotion)
    results = await run_blocking(_run, base, config)
    activity.logger.info("json-parse: %d output(s) from %s", len(results), config.path)
    return StepResult(outputs=results)
