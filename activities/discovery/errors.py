"""The two ways a discovery fails, shared by every subscription kind.

Both are benign for Temporal's logging: the Warehouse reports them in its status (and tries
again at its next interval), so a registry that is down does not fill the worker's log
with tracebacks at every attempt.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.credentials import redact_url

M = TypeVar("M", bound=BaseModel)

DISCOVERY_ERROR = "DiscoveryError"
UNAVAILABLE = "DiscoveryUnavailable"


def discovery_error(message: str) -> ApplicationError:
    """Retrying cannot help: the subscription, the repository or its credentials must change."""
    return ApplicationError(message, type=DISCOVERY_ERROR, non_retryable=True, category=ApplicationErrorCategory.BENIGN)


def unavailable(message: str) -> ApplicationError:
    """The repository could not answer now; Temporal retries the activity."""
    return ApplicationError(message, type=UNAVAILABLE, category=ApplicationErrorCategory.BENIGN)


def validation_message(e: ValidationError) -> str:
    """Pydantic's errors, one short clause each (field path and reason)."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'subscription'}: {err['msg']}" for err in e.errors())


def validated(model: type[M], subscription: dict[str, Any], kind: str) -> M:
    """The subscription as its model, or a DiscoveryError naming the repository and fields."""
    try:
        return model.model_validate(subscription)
    except ValidationError as e:
        repo = redact_url(str(subscription.get("repoURL") or "?"))
        raise discovery_error(f"{kind} subscription {repo}: {validation_message(e)}") from None
