"""`git-merge-pr`: merge a pull request (Kargo's `mergeMethod`), output the merge `commit`.

Idempotent: a PR already merged (by an earlier attempt or a person) is Succeeded with its
merge commit. While the provider says it is not mergeable yet (checks running) the step is
Running when `wait` is true, asked again after `pollInterval`, and fails saying so otherwise;
conflicts fail it at once.
"""

from __future__ import annotations

import httpx
from temporalio import activity

from activities.gitproviders import ProviderHTTPError
from activities.steps._common import typed_config
from activities.steps._pr import provider_for, refused, unreachable
from activities.steps.base import StepInput, StepResult, step_failed
from contracts.step_configs.git_merge_pr import GitMergePRConfig


@activity.defn(name="git-merge-pr")
async def git_merge_pr(input: StepInput) -> StepResult:
    config = typed_config(GitMergePRConfig, input)
    number, method, wait = config.pr_number, config.merge_method, config.wait
    what = f"git-merge-pr #{number}"
    async with provider_for(config) as provider:
        try:
            pr = await provider.get_pr(number)
            if pr.state == "open":
                if pr.mergeable is False:
                    raise step_failed(f"pull request {pr.url} has conflicts with its target branch; it cannot be merged")
                pr = await provider.merge_pr(number, method=method)
        except ProviderHTTPError as err:
            if err.status in (405, 409) and not err.rate_limited:
                if wait and err.status == 405:
                    return StepResult(status="Running", message=f"{what}: not mergeable yet ({err}); waiting")
                raise step_failed(f"{what}: the provider refused the merge: {err}") from None
            return refused(err, what)
        except httpx.HTTPError as err:
            raise unreachable(err, what) from None
    if pr.state == "merged":
        activity.logger.info("git-merge-pr: %s merged as %s", pr.url, pr.merge_commit)
        return StepResult(outputs={"commit": pr.merge_commit or ""}, message=f"{pr.url} merged")
    if pr.state == "closed":
        by = f" by {pr.closed_by}" if pr.closed_by else ""
        raise step_failed(f"pull request {pr.url} was closed{by} without being merged")
    if wait:
        return StepResult(status="Running", message=f"waiting for {pr.url} to become mergeable (checks running)")
    raise step_failed(f"pull request {pr.url} is not mergeable yet (checks running); set wait: true to wait for it")
