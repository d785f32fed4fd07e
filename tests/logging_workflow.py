"""A workflow that logs before and after a timer (tests/integration/test_worker_logs.py), in a
module of its own: the sandbox imports it again, and the test module imports what the
sandbox refuses."""

from datetime import timedelta

from temporalio import workflow


@workflow.defn(sandboxed=True)
class LoggingWorkflow:
    """With no workflow cache, the task after the timer replays the first one."""

    @workflow.run
    async def run(self) -> str:
        workflow.logger.info("before the timer")
        await workflow.sleep(timedelta(milliseconds=100))
        workflow.logger.info("after the timer")
        return "done"
