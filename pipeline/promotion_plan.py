"""From a Stage's promotion template to the flat list of steps a Promotion runs.

Kargo inflates task references when a Promotion is created (`InflateSteps`): a step
`task: {name, kind}` becomes the task's own steps, aliased `<taskAlias>::<stepAlias>`,
each carrying the task's vars (its defaults, overridden by the vars the Stage's step
sets). A task var with no default that nobody sets is an error before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.manifests import ClusterPromotionTask, PromotionStep, PromotionTask


class PlanError(Exception):
    """The template cannot become a Promotion (missing task, missing var)."""


class PlannedStep(BaseModel):
    """One step of a Promotion, after task inflation."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    alias: str
    uses: str
    task_alias: str | None = Field(default=None, description="the task this step came from, if any")
    if_: str | None = Field(default=None, alias="if")
    continue_on_error: bool = Field(default=False, alias="continueOnError")
    retry: dict[str, Any] | None = None
    vars: list[dict[str, Any]] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)


TaskLookup = Callable[[str, str], PromotionTask | ClusterPromotionTask | None]


def _dump_vars(vars_: list[Any]) -> list[dict[str, Any]]:
    return [v.model_dump(by_alias=True, exclude_none=True) for v in vars_]


def plan_steps(
    steps: list[PromotionStep], find_task: TaskLookup, *, promotion_vars: set[str] | None = None
) -> list[PlannedStep]:
    """Inflate task references; raises PlanError naming the task and var."""
    promotion_vars = promotion_vars or set()
    planned: list[PlannedStep] = []
    for index, step in enumerate(steps, start=1):
        if step.task is None:
            planned.append(
                PlannedStep(
                    alias=step.as_ or f"step-{index}",
                    uses=step.uses or "",
                    if_=step.if_,
                    continue_on_error=step.continue_on_error,
                    retry=step.retry.model_dump(by_alias=True, exclude_none=True) if step.retry else None,
                    vars=_dump_vars(step.vars),
                    config=step.config or {},
                )
            )
            continue
        ref = step.task
        task = find_task(ref.name, ref.kind)
        if task is None:
            raise PlanError(f"{ref.kind} {ref.name!r} does not exist (step {index} of the promotion template)")
        task_alias = step.as_ or f"task-{index}"
        given = {v.name: v for v in step.vars}
        declared = {v.name for v in task.spec.vars}
        for name in given:
            if name not in declared:
                raise PlanError(f"{ref.kind} {ref.name!r} has no variable {name!r} (step {task_alias})")
        task_vars: list[dict[str, Any]] = []
        for var in task.spec.vars:
            if var.name in given:
                task_vars.append(given[var.name].model_dump(by_alias=True, exclude_none=True))
            elif var.value is not None:
                task_vars.append(var.model_dump(by_alias=True, exclude_none=True))
            elif var.name not in promotion_vars:
                raise PlanError(f"missing value for variable {var.name} of task {ref.name}")
        for inner_index, inner in enumerate(task.spec.steps, start=1):
            if inner.task is not None:
                raise PlanError(f"{ref.kind} {ref.name!r} step {inner_index} references another task; tasks cannot nest")
            inner_alias = inner.as_ or f"step-{inner_index}"
            planned.append(
                PlannedStep(
                    alias=f"{task_alias}::{inner_alias}",
                    uses=inner.uses or "",
                    task_alias=task_alias,
                    if_=inner.if_ if inner.if_ is not None else step.if_,
                    continue_on_error=inner.continue_on_error,
                    retry=inner.retry.model_dump(by_alias=True, exclude_none=True) if inner.retry else None,
                    vars=task_vars + _dump_vars(inner.vars),
                    config=inner.config or {},
                )
            )
    return planned
