"""Every activity retry policy of Gantry's workflows, named for what it is for.

A policy is part of the command that schedules an activity, so a value here changes only
activities scheduled after a worker runs the new code (nothing that already ran): changing
one needs no patch. Steps have their own rules (`pipeline/step_policies.py`: Kargo's
`retry.errorThreshold` and timeouts).
"""

from datetime import timedelta

from temporalio.common import RetryPolicy

#: telling another workflow something through an activity (signal-with-start, a query, an
#: update): worth several tries, then the caller logs it and goes on
TELL = RetryPolicy(maximum_attempts=10)
#: a user's or a promotion's change made on another workflow's behalf (approve, alias,
#: entered/verified on a Freight, the first step's worker, the auto-promotion it starts)
CHANGE = RetryPolicy(maximum_attempts=5)
#: asking whether something is so (a holder alive, Argo CD healthy, a measurement, old
#: Freight to collect): the next check asks again
CHECK = RetryPolicy(maximum_attempts=3)
#: moving a project's catalog of old into FreightWorkflows: until it is done
MOVE_OUT = RetryPolicy(maximum_interval=timedelta(minutes=1))
#: reading a promotion's context: a missing Stage or Freight, or a plan error, is final
LOAD_CONTEXT = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["NotFound", "PlanError"])
#: a step's catalog change (set-freight-alias, set-metadata): a refusal fails the step
CATALOG_CHANGE = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["StepFailed"])
#: a Warehouse's new Freight: a refusal (no artifacts, a taken alias) is final
CREATE_FREIGHT = RetryPolicy(maximum_attempts=10, non_retryable_error_types=["FreightRefused"])
#: one discovery of a Warehouse subscription in a pass; a DiscoveryError (bad config) is final
DISCOVERY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1), non_retryable_error_types=["DiscoveryError"])
#: once: the workflow decides what a failure means
NO_RETRY = RetryPolicy(maximum_attempts=1)
