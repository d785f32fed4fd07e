"""Gantry's expression language: expr-lang (github.com/expr-lang/expr), as Kargo
and Argo Rollouts use it, written from scratch in pure Python.

Pure and deterministic (no I/O, clock or randomness), so it runs inside
Temporal's workflow sandbox. It never executes Python code from its input.

    evaluate("vars.x + 1", {"vars": {"x": 41}})              # 42
    render({"tag": "${{ imageFrom('nginx').Tag }}"}, env)    # {"tag": "1.27"}
    render_args("{{ args.image-tag }}", {"image-tag": "v1"})  # "v1"
    evaluate_condition("result[0] < 0.05", [0.01])            # True
"""

from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.kargo import criteria_env, promotion_env, verification_env
from pipeline.expressions.program import Program, compile_expression, evaluate
from pipeline.expressions.rollouts import condition_env, evaluate_condition, render_args, render_args_quoted
from pipeline.expressions.templates import has_expression, render, render_template
from pipeline.expressions.values import Function, Record

__all__ = [
    "ExpressionError",
    "Function",
    "Program",
    "Record",
    "compile_expression",
    "condition_env",
    "criteria_env",
    "evaluate",
    "evaluate_condition",
    "has_expression",
    "promotion_env",
    "render",
    "render_args",
    "render_args_quoted",
    "render_template",
    "verification_env",
]
