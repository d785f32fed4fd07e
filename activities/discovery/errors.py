"""The two ways a discovery fails, shared by every subscription kind.

Both are benign for Temporal's logging: the Warehouse reports them in its status (and tries
again at its next interval), so a registry that is down does not fill the worker's log
with tracebacks at every attempt.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

DISCOVERY_ERROR = "DiscoveryError"
UNAVAILABLE = "DiscoveryUnavailable"


def discovery_error(message: str) -> ApplicationError:
    """Retrying cannot help: the subscription, the repository or its credentials must change."""
    return ApplicationError(message, type=DISCOVERY_ERROR, non_retryable=True, category=ApplicationErrorCategory.BENIGN)


def unavailable(message: str) -> ApplicationError:
    """The repository could not answer now; Temporal retries the activity."""
    return ApplicationError(message, type=UNAVAILABLE, category=ApplicationErrorCategory.BENIGN)
