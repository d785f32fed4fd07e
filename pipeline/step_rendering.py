"""Rendering a promotion's vars and step configs with the expression language.

Kargo evaluates expressions just in time, step by step, so a step sees the outputs
of the steps before it. Vars resolve in order: Stage `spec.vars`, then the
promotion template's vars, then the step's own vars; each may read the ones before.
Every render takes `now`, what now() returns: the workflow passes workflow.now(), so a
replay renders the same values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.expressions import promotion_env, render


class RenderScope:
    """The facts every expression of one promotion can see."""

    def __init__(self, *, project: str, stage: str, promotion: str, freight: dict[str, Any], actor: str | None):
        self.project = project
        self.stage = stage
        self.promotion = promotion
        self.freight = freight
        self.actor = actor

    def env(
        self,
        *,
        vars: dict[str, Any],
        outputs: dict[str, Any] | None = None,
        step_statuses: dict[str, str] | None = None,
        alias: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        return promotion_env(
            project=self.project,
            stage=self.stage,
            promotion=self.promotion,
            freight=[self.freight],
            vars=vars,
            outputs=outputs or {},
            step_statuses=step_statuses or {},
            current_alias=alias,
            actor=self.actor,
            target_freight=self.freight,
            now=now,
        )


def resolve_vars(
    scope: RenderScope,
    declared: list[dict[str, Any]],
    *,
    base: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    source: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Evaluate a list of `{name, value}` vars in order on top of `base`."""
    resolved = dict(base or {})
    for index, var in enumerate(declared):
        name = var.get("name")
        value = var.get("value")
        resolved[name] = render(
            value, scope.env(vars=resolved, outputs=outputs, now=now), source=f"{source}[{index}].value"
        )
    return resolved


def render_config(
    scope: RenderScope,
    config: dict[str, Any],
    *,
    vars: dict[str, Any],
    outputs: dict[str, Any],
    step_statuses: dict[str, str],
    alias: str,
    source: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Render every `${{ }}` inside a step's config (values only, never keys)."""
    env = scope.env(vars=vars, outputs=outputs, step_statuses=step_statuses, alias=alias, now=now)
    rendered = render(config or {}, env, source=source)
    return rendered if isinstance(rendered, dict) else {}
