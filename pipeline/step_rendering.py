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
from pipeline.expressions.data import PromotionData, uses_secrets


class RenderScope:
    """The facts every expression of one promotion can see."""

    def __init__(
        self,
        *,
        project: str,
        stage: str,
        promotion: str,
        freight: dict[str, Any],
        actor: str | None,
        data: PromotionData | None = None,
        rollback: bool = False,
    ):
        self.project = project
        self.stage = stage
        self.promotion = promotion
        self.freight = freight
        self.actor = actor
        self.data = data or PromotionData()
        self.rollback = rollback

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
            data=self.data,
            rollback=self.rollback,
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


class _Deferred:
    """A config value left for the step's worker: render() passes it through untouched."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _defer_secrets(value: Any, path: list[str | int], found: list[list[str | int]]) -> Any:
    if isinstance(value, str):
        if uses_secrets(value):
            found.append(list(path))
            return _Deferred(value)
        return value
    if isinstance(value, dict):
        return {key: _defer_secrets(item, [*path, key], found) for key, item in value.items()}
    if isinstance(value, list):
        return [_defer_secrets(item, [*path, index], found) for index, item in enumerate(value)]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, _Deferred):
        return value.text
    if isinstance(value, dict):
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value


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
    secret_paths: list[list[str | int]] | None = None,
) -> dict[str, Any]:
    """Render every `${{ }}` inside a step's config (values only, never keys).

    With `secret_paths`, a value whose template calls secret()/sharedSecret() is left as
    written and its path appended there, for the step's worker to render; without, such a
    value is an error (the workflow's secret() refuses).
    """
    env = scope.env(vars=vars, outputs=outputs, step_statuses=step_statuses, alias=alias, now=now)
    if secret_paths is None:
        rendered = render(config or {}, env, source=source)
    else:
        rendered = _restore(render(_defer_secrets(config or {}, [], secret_paths), env, source=source))
    return rendered if isinstance(rendered, dict) else {}
