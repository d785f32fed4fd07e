"""What is wrong with a workflow's input, in words that name the field.

A workflow started by any client (`temporal workflow start`, a script) gets its input
checked by these rules before it does anything; the workflow then fails at once,
non-retryable, instead of failing its task for ever on "Failed decoding arguments".
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def describe_validation_error(err: ValidationError, *, limit: int = 5) -> str:
    """`field 'stage': Field required; field 'stgae': not a field of the input`."""
    parts = []
    for issue in err.errors()[:limit]:
        where = ".".join(str(p) for p in issue.get("loc") or ()) or "(the input)"
        kind = issue.get("type")
        if kind == "extra_forbidden":
            text = "not a field of the input (a misspelling?)"
        elif kind == "missing":
            text = "required"
        else:
            text = str(issue.get("msg") or kind)
        parts.append(f"field {where!r}: {text}")
    more = len(err.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def promotion_id_problem(workflow_id: str, project: str, stage: str) -> str | None:
    """None when `workflow_id` is `promotion/<project>/<stage>/<name>` for this input."""
    parts = workflow_id.split("/")
    expected = f"promotion/{project}/{stage}/<name>"
    if len(parts) != 4 or parts[0] != "promotion" or not parts[3]:
        return f"workflow id {workflow_id!r} is not of the form {expected}"
    if parts[1] != project or parts[2] != stage:
        return f"workflow id {workflow_id!r} does not match the input: expected {expected}"
    return None


def fields_of(model: Any) -> str:
    """The input's field names, for a message that says what is accepted."""
    return ", ".join(sorted(getattr(model, "model_fields", {})))
