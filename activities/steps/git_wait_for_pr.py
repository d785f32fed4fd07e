"""`git-wait-for-pr`: wait until a pull request is merged.

One look per call: merged is Succeeded (output `commit`, the merge commit, and `pr`), closed
without merging a terminal failure naming the PR and who closed it, open is Running. The
promotion asks again after `pollInterval` on a durable timer (default 30 s), so a review
that takes days holds no worker slot and survives worker and server restarts; an abort ends
the wait. A provider error or a rate limit is Running too, not a failure: the wait goes on.
"""

from __future__ import annotations

import httpx
from temporalio import activity

from activities.gitproviders import ProviderHTTPError
from activities.steps._common import typed_config
from activities.steps._pr import provider_for, provider_ok, provider_trouble, refused
from activities.steps.base import StepInput, StepResult, require_workdir, step_failed
from contracts.step_configs.git_wait_for_pr import GitWaitForPRConfig

def pr_outputs(pr) -> dict:
    return {"id": pr.id, "url": pr.url, "open": pr.state == "open", "merged": pr.state == "merged"}


@activity.defn(name="git-wait-for-pr")
async def git_wait_for_pr(input: StepInput) -> StepResult:
    config = typed_config(GitWaitForPRConfig, input)
    number = config.pr_number
    base = require_workdir(input.promotion)
    what = f"git-wait-for-pr #{number}"
    async with provider_for(config) as provider:
        try:
            pr = await provider.get_pr(number)
        except ProviderHTTPError as err:
            if err.status >= 500:  # the service's trouble: the wait goes on, backing off
                wait = provider_trouble(base, input.alias)
                return StepResult(status="Running", message=f"{what}: {err}; asking again in {wait:.0f}s", poll_after=wait)
            return refused(err, what)
        except httpx.HTTPError as err:
            wait = provider_trouble(base, input.alias)
            return StepResult(
                status="Running",
                message=f"{what}: provider unreachable ({type(err).__name__}); asking again in {wait:.0f}s",
                poll_after=wait,
            )
    provider_ok(base, input.alias)
    if pr.state == "merged":
        activity.logger.info("git-wait-for-pr: %s merged as %s", pr.url, pr.merge_commit)
        return StepResult(outputs={"commit": pr.merge_commit or "", "pr": pr_outputs(pr)}, message=f"{pr.url} merged")
    if pr.state == "closed":
        by = f" by {pr.closed_by}" if pr.closed_by else ""
        raise step_failed(f"pull request {pr.url} was closed{by} without being merged")
    return StepResult(
        status="Running", message=f"waiting for {pr.url} to be merged (open)", outputs={"pr": pr_outputs(pr)}
    )
