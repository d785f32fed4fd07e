"""secret()/sharedSecret() in step configs, resolved on the step's worker.

The workflow leaves a config field whose template calls secret() as written and lists it
in `StepInput.secrets` (pipeline/step_rendering.py). This interceptor of the step worker
renders those fields just before the step runs, with the environment the workflow would
have used plus the worker's named secrets (activities/named_secrets.py); then it takes
every secret value it handed out back out of what goes to Temporal and to the logs: the
step's outputs and message, the message of an error (rendering's or the step's), and the
lines the steps log, each value replaced by `***`. The value exists only in this
activity's memory and in what the step does with it.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.credentials import CredentialsError
from activities.named_secrets import lookup_secret
from contracts.steps import STEP_FAILED, StepInput, StepResult
from pipeline.expressions import ExpressionError, promotion_env, render_template

REDACTED = "***"


class _Revealed:
    """The secret values handed out while rendering, to take back out afterwards."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def lookup(self, project: str):
        def find(name: str, shared: bool) -> dict[str, str] | None:
            data = lookup_secret(project, name, shared)
            self.values.update(value for value in (data or {}).values() if value)
            return data

        return find

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in sorted(self.values, key=len, reverse=True):
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret in self.values)


class _ScrubLogs(logging.Filter):
    """Takes the values of the steps running with secrets out of activity log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.running: dict[int, _Revealed] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        values = {value for revealed in list(self.running.values()) for value in revealed.values}
        if values:
            text = record.getMessage()
            if any(value in text for value in values):
                for value in sorted(values, key=len, reverse=True):
                    text = text.replace(value, REDACTED)
                record.msg, record.args = text, ()
        return True


LOG_FILTER = _ScrubLogs()
#: the loggers a step's lines go through: its own (activity.logger), the SDK's reports of
#: activity failures, and the HTTP client's request lines (URLs)
SCRUBBED_LOGGERS = ("temporalio.activity", "temporalio.worker._activity", "httpx", "httpcore")
for _name in SCRUBBED_LOGGERS:
    logging.getLogger(_name).addFilter(LOG_FILTER)


def _set(config: dict[str, Any], path: list[str | int], value: Any) -> None:
    target: Any = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _get(config: dict[str, Any], path: list[str | int]) -> Any:
    target: Any = config
    for key in path:
        target = target[key]
    return target


def render_secret_fields(step: StepInput, revealed: _Revealed) -> StepInput:
    """The step's input with its secret fields rendered; errors never show a value."""
    assert step.secrets is not None
    fields = step.secrets
    env = promotion_env(
        project=step.project, stage=step.stage, promotion=step.promotion, freight=step.freight, vars=fields.vars,
        outputs=step.outputs, step_statuses=fields.step_statuses, current_alias=step.alias, actor=fields.actor,
        target_freight=step.freight[0] if step.freight else None, now=fields.now, data=fields.data,
        rollback=fields.rollback,
        secrets=revealed.lookup(step.project),
    )  # fmt: skip
    config = step.model_copy(deep=True).config
    for path in fields.paths:
        where = "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        try:
            _set(config, path, render_template(_get(config, path), env))
        except ExpressionError as err:
            raise ApplicationError(revealed.scrub(f"{where}: {err}"), type=STEP_FAILED, non_retryable=True) from None
        except CredentialsError as err:
            raise ApplicationError(f"{where}: the worker's secrets: {err}", type="CredentialsError") from None
        except (KeyError, IndexError, TypeError):
            raise ApplicationError(f"{where}: not in the step's config", type=STEP_FAILED, non_retryable=True) from None
    return step.model_copy(update={"config": config, "secrets": None})


class StepSecrets(Interceptor):
    """Add to the worker that runs the steps."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        step = input.args[0] if input.args else None
        if not isinstance(step, StepInput) or step.secrets is None:
            return await super().execute_activity(input)
        revealed = _Revealed()
        LOG_FILTER.running[id(revealed)] = revealed
        try:
            return await self._run(input, step, revealed)
        finally:
            del LOG_FILTER.running[id(revealed)]

    async def _run(self, input: ExecuteActivityInput, step: StepInput, revealed: _Revealed) -> Any:
        input.args = [render_secret_fields(step, revealed), *input.args[1:]]
        try:
            result = await super().execute_activity(input)
        except ApplicationError as err:
            if not revealed.leaks(str(err.message)):
                raise
            raise ApplicationError(
                revealed.scrub(err.message), type=err.type, non_retryable=err.non_retryable
            ) from None
        except Exception as err:
            if not revealed.leaks(str(err)):
                raise
            activity.logger.warning("step %s failed; its message held a secret value and was redacted", step.alias)
            raise ApplicationError(revealed.scrub(str(err)), type=type(err).__name__) from None
        if isinstance(result, StepResult):
            return result.model_copy(update={"outputs": revealed.scrub(result.outputs), "message": revealed.scrub(result.message)})
        return revealed.scrub(result)
