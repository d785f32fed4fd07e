"""A deliberately changed PromotionWorkflow, the positive control of tests/unit/test_replay.py.

In a module of its own because the workflow sandbox imports the module a workflow is defined
in, and the test module reads files when imported.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflows.messages import PromotionStatus
    from workflows.promotion import PromotionWorkflow


@workflow.defn(name="PromotionWorkflow")
class ChangedPromotionWorkflow(PromotionWorkflow):
    """PromotionWorkflow with one extra command at the start (a timer), as a careless edit
    would add: a recorded history's first command is an activity, so replay must fail."""

    @workflow.run
    async def run(self, raw: RawValue = None) -> PromotionStatus:  # type: ignore[assignment]
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(raw)
