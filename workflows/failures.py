"""Turning a Temporal failure chain into the sentence a user should read."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError


def cause_message(err: BaseException) -> str:
    """The innermost cause's own words (an ApplicationError's str() starts with its type)."""
    cause = err
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[assignment]
    if isinstance(cause, ApplicationError) and cause.message:
        return cause.message
    return str(cause) or type(cause).__name__
