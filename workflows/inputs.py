"""Decoding a workflow's input inside the workflow, so that a bad one fails the workflow
(non-retryable, naming the field) rather than its task for ever.

A workflow that takes `RawValue` gets the payload undecoded; :func:`decode` turns it into
the model or into the sentence that says what is wrong (`pipeline.inputs`).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pipeline.inputs import describe_validation_error, fields_of

#: the ApplicationError type of a workflow that refused its input
BAD_INPUT = "BadInput"

M = TypeVar("M", bound=BaseModel)


def decode(raw: RawValue | None, model: type[M], workflow_type: str) -> tuple[M | None, str]:
    """The input as `model`, or None and what is wrong with it."""
    if raw is None:
        return None, f"{workflow_type} needs one input, a JSON object with the fields {fields_of(model)}"
    try:
        return workflow.payload_converter().from_payload(raw.payload, model), ""
    except ValidationError as err:
        return None, f"bad input for {workflow_type}: {describe_validation_error(err)}"
    except Exception as err:  # not JSON, or not an object
        return None, f"bad input for {workflow_type}: expected a JSON object with the fields {fields_of(model)} ({err})"


def refuse(problem: str) -> ApplicationError:
    """The failure a workflow raises for a bad input: no retry can make it good."""
    return ApplicationError(problem, type=BAD_INPUT, non_retryable=True)
