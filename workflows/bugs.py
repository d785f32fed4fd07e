"""What a workflow does with a bug in its own code (a KeyError, a TypeError, an AttributeError...).

Left alone, an exception that is not one of Temporal's failures fails the workflow *task*,
which Temporal retries forever: the workflow neither moves nor ends. A PromotionWorkflow
stuck like that holds its Stage's lock for good (the Stage sees it running), and a
long-lived workflow stuck like that takes no more updates or signals. So:

- a promotion ends Errored, naming the bug, and gives its lock back
  (`PromotionWorkflow.run`);
- an update handler of a long-lived workflow fails that one update with an
  ``ApplicationError`` of type ``InternalError`` naming the bug (:func:`guard_update`);
- a signal handler logs the bug and drops that one signal (:func:`guard_signal`);
- the main loops log a bad item and drop it, or try it again later (see each workflow).

Queries need nothing: a query that raises fails that one query. Update validators need
nothing either: whatever a validator raises rejects that one update.

What is never handled here, because it is how Temporal itself works: cancellation
(``asyncio.CancelledError``, a cancelled activity or child), continue-as-new and eviction
(both ``BaseException``), and the SDK's own errors about the workflow code
(``NondeterminismError``, the sandbox's ``RestrictedWorkflowAccessError``, which is one,
``ReadOnlyContextError``, not being in the workflow's event loop). They propagate as before.

Replay: handling a bug issues commands a history never had. For an exception that failed
the workflow task that is safe, since such a task never completed and no history holds its
outcome. A Temporal failure (``FailureError``, ``asyncio.TimeoutError``) used to fail the
workflow itself, and histories that end that way exist: handling one is gated by
``workflow.patched`` (:func:`handles`), so replaying such a history fails it again.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any, Callable, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from workflows import patches
    from workflows.failures import cause_message

#: ``workflow.patched`` id of "a bug ends the promotion Errored and releases the lock"
PROMOTION_PATCH = patches.BUG_ENDS_PROMOTION.id
#: ``workflow.patched`` id of "a long-lived workflow survives a bug in a handler or its loop"
LONG_LIVED_PATCH = patches.BUG_SURVIVED.id
#: the ApplicationError type of an update that failed because of a bug
INTERNAL_ERROR = "InternalError"

_SDK_ERRORS: tuple[type[BaseException], ...] = (
    workflow.NondeterminismError,
    workflow.ReadOnlyContextError,
    workflow._NotInWorkflowEventLoopError,
)

F = TypeVar("F", bound=Callable[..., Any])


def is_bug(err: BaseException) -> bool:
    """An exception the workflow code did not expect, as opposed to Temporal's own signals
    (cancellation, continue-as-new, eviction, nondeterminism, the sandbox)."""
    if not isinstance(err, Exception):  # asyncio.CancelledError, ContinueAsNewError, eviction
        return False
    if isinstance(err, _SDK_ERRORS):
        return False
    return not is_cancelled_exception(err)


def fails_workflow(err: BaseException) -> bool:
    """What the SDK turns into a failed workflow rather than a failed workflow task."""
    return isinstance(err, (FailureError, asyncio.TimeoutError))


def handles(err: BaseException, patch_id: str) -> bool:
    """Whether workflow code should handle `err` as a bug rather than let it propagate.

    Call it only in an ``except`` clause (it may record a patch marker): a Temporal failure
    is handled only where ``workflow.patched(patch_id)`` says this history may (see the
    module's docstring); any other bug always is."""
    if not is_bug(err):
        return False
    if fails_workflow(err):
        return workflow.patched(patch_id)
    return True


def describe(err: BaseException) -> str:
    """``KeyError: 'x'``: the exception's type and its message."""
    text = cause_message(err) if isinstance(err, FailureError) else str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def log_bug(what: str, err: BaseException) -> None:
    """Log a handled bug with its traceback (replay-aware, as every workflow.logger call)."""
    workflow.logger.error("internal error in %s: %s (a bug in Gantry)", what, describe(err), exc_info=err)


def guard_update(fn: F) -> F:
    """For an update handler (below ``@workflow.update``): a bug fails that one update with
    an ``ApplicationError`` (type ``InternalError``) naming it; the workflow goes on.
    Temporal failures raised on purpose fail the update as before."""

    def convert(err: Exception) -> Exception:
        if fails_workflow(err) or not is_bug(err):
            return err
        log_bug(f"update {fn.__name__}", err)
        return ApplicationError(
            f"internal error: {describe(err)} (a bug in Gantry; this update was refused, the workflow goes on)",
            type=INTERNAL_ERROR,
            non_retryable=True,
        )

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as err:
                converted = convert(err)
                if converted is err:
                    raise
                raise converted from None

        return guarded_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            converted = convert(err)
            if converted is err:
                raise
            raise converted from None

    return guarded  # type: ignore[return-value]


def guard_signal(fn: F) -> F:
    """For a synchronous signal handler (below ``@workflow.signal``): a bug is logged and
    that one signal dropped (changes it made before the bug stay); the workflow goes on."""
    if inspect.iscoroutinefunction(fn):
        raise TypeError("guard_signal takes synchronous handlers only")

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as err:
            if not handles(err, LONG_LIVED_PATCH):
                raise
            log_bug(f"signal {fn.__name__} (the signal is dropped)", err)

    return guarded  # type: ignore[return-value]
