"""`toml-parse`: read values out of a TOML file with expressions.

As in Kargo (and ``yaml-parse``), each ``outputs[i].fromExpression`` is an expr-lang
expression (no ``${{ }}``) evaluated with the parsed document as its environment: the
document's top-level keys are the variables (``image.tag``, ``servers[0].host``). Each
result becomes the output ``outputs[i].name``. Dates and times come out as RFC 3339 text,
as they do when Kargo's results are stored as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio import activity

from activities.steps import _toml
from activities.steps._typed_config import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, run_blocking, step_failed
from activities.steps.yaml_parse import jsonable
from contracts.step_configs.toml_parse import TomlParseConfig


def _run(base: Path, config: TomlParseConfig) -> dict[str, Any]:
    from pipeline.expressions import evaluate

    _, doc = _toml.load(base, config.path)
    document = jsonable(doc.unwrap())
    results: dict[str, Any] = {}
    for i, output in enumerate(config.outputs):
        try:
            value = evaluate(output.from_expression, document)
        except Exception as e:  # a deterministic evaluation failure: retrying cannot help
            raise step_failed(f"config field 'outputs[{i}].fromExpression': {output.from_expression!r}: {e}") from None
        results[output.name] = jsonable(value)
    return results


@activity.defn(name="toml-parse")
async def toml_parse(input: StepInput) -> StepResult:
    """Evaluate ``outputs`` over the TOML file at ``path``; the results are the outputs."""
    config = typed_config(TomlParseConfig, input)
    base = require_workdir(input.promotion)
    results = await run_blocking(_run, base, config)
    activity.logger.info("toml-parse: %d output(s) from %s", len(results), config.path)
    return StepResult(outputs=results)
