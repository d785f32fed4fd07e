"""Errors as people read them: one line, in plain words, no exception class names and no
traceback, unless `--debug` (or GANTRY_DEBUG=1) asks for the traceback.

`user_message` turns whatever a command raised into that line; `is_unavailable` tells a
server that cannot be reached (down, restarting, wrong address) from a refused request, so
that the commands that wait can reconnect instead of failing.
"""

from __future__ import annotations

import asyncio
import os
import re

from temporalio.client import (
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from workflows.failures import cause_message

DEBUG_ENV = "GANTRY_DEBUG"

#: a leading `ValueError: ` or `StepFailed: ` in a message: the type of an exception, not words
_TYPE_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Failed|Failure|Refused|Lost)): ")

#: words in the errors of a server that is not there (the SDK's Rust core and gRPC)
_UNREACHABLE = (
    "connection refused",
    "failed client connect",
    "transport error",
    "tcp connect error",
    "broken pipe",
    "connection reset",
    "error trying to connect",
    "dns error",
    "not enough hosts to serve the request",
    "shutting down",
)


def debug_enabled() -> bool:
    """`--debug` was given (it sets GANTRY_DEBUG) or GANTRY_DEBUG=1."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def plain(message: str) -> str:
    """The first line of a message without an exception type in front of it."""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    first = lines[0].strip() if lines else ""
    while _TYPE_PREFIX.match(first):
        first = _TYPE_PREFIX.sub("", first, count=1)
    return first


def is_unavailable(err: BaseException) -> bool:
    """True when the server cannot be reached now (down, restarting, not listening)."""
    if isinstance(err, RPCError):
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return True
        text = (err.message or "").lower()
        if err.status == RPCStatusCode.NOT_FOUND and "namespace" in text:
            return True  # a dev server that is starting answers before its namespace exists
        return any(words in text for words in _UNREACHABLE)
    if isinstance(err, (ConnectionError, asyncio.TimeoutError)):
        return True
    if isinstance(err, RuntimeError) and not isinstance(err, FailureError):
        text = str(err).lower()
        return any(words in text for words in _UNREACHABLE)
    return False


def _is_user_error(err: BaseException) -> bool:
    """Errors that say something about the request or the pipeline, not about Gantry's code."""
    from client.api import GantryError

    return isinstance(
        err,
        (
            GantryError,
            FailureError,
            WorkflowFailureError,
            WorkflowUpdateFailedError,
            WorkflowQueryFailedError,
            WorkflowQueryRejectedError,
            RPCError,
            ValueError,
            OSError,
        ),
    )


def is_bug(err: BaseException) -> bool:
    return not (_is_user_error(err) or is_unavailable(err))


def user_message(err: BaseException, address: str | None = None) -> str:
    """One line for `error: ...`."""
    from client.api import GantryError

    where = f" at {address}" if address else ""
    if isinstance(err, GantryError):
        return plain(str(err))
    if is_unavailable(err):
        return (
            f"cannot reach the Temporal server{where}: start one with `gantry dev`, "
            "or pass --address / TEMPORAL_ADDRESS"
        )
    if isinstance(err, (WorkflowFailureError, WorkflowUpdateFailedError, FailureError)):
        return plain(cause_message(err))
    if isinstance(err, WorkflowQueryFailedError):
        return plain(str(err))
    if isinstance(err, WorkflowQueryRejectedError):
        return "the workflow refused the query (it has ended)"
    if isinstance(err, RPCError):
        return plain(err.message or str(err))
    if isinstance(err, (ValueError, OSError)):
        return plain(str(err)) or "invalid request"
    first = plain(str(err))
    return (
        f"unexpected error, a bug in Gantry ({type(err).__name__}{': ' + first if first else ''}); "
        "run again with --debug (or GANTRY_DEBUG=1) to see the traceback"
    )


def unwrap(err: BaseException) -> BaseException:
    """ApplicationErrors wrapping an ApplicationError: the innermost one (for logs)."""
    cause = err
    while isinstance(cause, FailureError) and getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[assignment]
    return cause


__all__ = ["ApplicationError", "debug_enabled", "is_bug", "is_unavailable", "plain", "unwrap", "user_message"]
