"""How a promotion's or a verification's end shows in Temporal: Completed when it
succeeded, Failed (a non-retryable error of one of these types, carrying the final status
as its details) when it did not, Canceled when it was aborted through cancellation.
Temporal Web's Failures filter and `ExecutionStatus="Failed"` then tell the truth, and
`gantry` still reads every step from the failure's details."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, CancelledError, ChildWorkflowError

from workflows.failures import cause_message
from workflows.verification import VerificationStatus

#: promotion phase -> the ApplicationError type its failed workflow carries
PROMOTION_ENDED_BADLY = {"Failed": "PromotionFailed", "Errored": "PromotionErrored"}
#: AnalysisRun phase -> the ApplicationError type of its failed VerificationWorkflow
VERIFICATION_ENDED_BADLY = {
    "Failed": "VerificationFailed",
    "Error": "VerificationError",
    "Inconclusive": "VerificationInconclusive",
}


def verification_outcome(err: ChildWorkflowError, workflow_id: str) -> VerificationStatus:
    """The final status of a verification child that did not complete."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type in VERIFICATION_ENDED_BADLY.values() and cause.details:
        return VerificationStatus.model_validate(cause.details[0])
    if isinstance(cause, CancelledError):
        return VerificationStatus(id=workflow_id, phase="Failed", message="aborted by user (its workflow was cancelled)")
    return VerificationStatus(id=workflow_id, phase="Error", message=cause_message(err))
