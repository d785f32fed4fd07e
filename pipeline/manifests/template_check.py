"""`${{ }}` templates of Stages and (Cluster)PromotionTasks, and Warehouses' creation
criteria, checked at validate/apply.

A template that does not parse, or calls a function Gantry does not have, would fail the
promotion when it reaches the step; Kargo users meet that at run time, Gantry refuses it
at apply with the file, document, field and column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.expressions import ExpressionError
from pipeline.expressions.functions import KNOWN_FUNCTIONS, called_functions, unknown_function_message
from pipeline.expressions.templates import expressions_in, has_expression
from pipeline.manifests.models import ExpressionVariable, PromotionStep, Stage, Warehouse

#: add(path, message): one issue at a field of the document being checked
Add = Callable[[str, str], None]


def _check_expression(add: Add, path: str, expression: str, place: str) -> None:
    try:
        calls = called_functions(expression)
    except ExpressionError as err:
        add(path, str(err.with_context(expression=expression)))
        return
    for name, position in calls:
        if name not in KNOWN_FUNCTIONS[place]:
            add(path, str(ExpressionError(unknown_function_message(name, place), expression=expression, position=position)))


def _check_template(add: Add, path: str, template: str, place: str) -> None:
    try:
        for expression in expressions_in(template):
            _check_expression(add, path, expression, place)
    except ExpressionError as err:
        add(path, str(err))


def _walk(add: Add, path: str, value: Any, place: str) -> None:
    if isinstance(value, str):
        if has_expression(value):
            _check_template(add, path, value, place)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(add, f"{path}.{key}", item, place)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(add, f"{path}[{index}]", item, place)


def _vars(add: Add, base: str, declared: list[ExpressionVariable]) -> None:
    for index, var in enumerate(declared):
        if isinstance(var.value, str):
            _walk(add, f"{base}[{index}].value", var.value, "promotion vars")


def check_steps(add: Add, base: str, steps: list[PromotionStep]) -> None:
    """Each step's `if` (an expression with or without `${{ }}`), vars and config."""
    for index, step in enumerate(steps):
        at = f"{base}[{index}]"
        if step.if_:
            if has_expression(step.if_):
                _check_template(add, f"{at}.if", step.if_, "promotion vars")
            else:
                _check_expression(add, f"{at}.if", step.if_, "promotion vars")
        _vars(add, f"{at}.vars", step.vars)
        if step.config:
            _walk(add, f"{at}.config", step.config, "promotion")


def check_task(add: Add, vars_: list[ExpressionVariable], steps: list[PromotionStep]) -> None:
    """A (Cluster)PromotionTask: spec.vars defaults and spec.steps."""
    _vars(add, "spec.vars", vars_)
    check_steps(add, "spec.steps", steps)


def check_warehouse(add: Add, warehouse: Warehouse) -> None:
    """A Warehouse's freightCreationCriteria.expression (a bare expression)."""
    criteria = warehouse.spec.freight_creation_criteria
    if criteria is not None and criteria.expression and criteria.expression.strip():
        _check_expression(add, "spec.freightCreationCriteria.expression", criteria.expression.strip(), "criteria")


def check_stage(add: Add, stage: Stage) -> None:
    """A Stage: spec.vars, its promotion template, and its verification args."""
    spec = stage.spec
    _vars(add, "spec.vars", spec.vars)
    template = spec.promotion_template
    if template is not None:
        _vars(add, "spec.promotionTemplate.spec.vars", template.spec.vars)
        check_steps(add, "spec.promotionTemplate.spec.steps", template.spec.steps)
    if spec.verification is not None:
        for index, arg in enumerate(spec.verification.args):
            value = getattr(arg, "value", None)
            if isinstance(value, str):
                _walk(add, f"spec.verification.args[{index}].value", value, "verification")
