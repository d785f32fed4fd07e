"""What the pull-request steps (git-open-pr, git-wait-for-pr, git-merge-pr) share: their
common config fields, and what a refused provider call means for the step.

A rate limit (403/429 with Retry-After or a reset time) is not a failure: the step answers
Running and asks to be called again no sooner than the service said (`StepResult.poll_after`);
the promotion waits on a durable timer. Another 4xx is the request's fault: a terminal step
failure with the service's words. A 5xx or a lost connection is retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.exceptions import ApplicationError

from activities.credentials import redact_url
from activities.gitproviders import GitProvider, ProviderHTTPError, open_provider
from activities.steps._common import checked_repo_url
from activities.steps.base import StepResult, step_failed
from contracts.step_configs.git_merge_pr import GitMergePRConfig
from contracts.step_configs.git_open_pr import GitOpenPRConfig
from contracts.step_configs.git_wait_for_pr import GitWaitForPRConfig
from pipeline.gitproviders import ProviderError

#: a rate limit that names no time: ask again after this many seconds
RATE_LIMIT_DEFAULT_WAIT = 60.0
#: a failing provider (5xx, unreachable) is asked again after 15 s, 30 s, 60 s ... at most 10 min
ERROR_WAIT_FIRST, ERROR_WAIT_MAX = 15.0, 600.0


def _trouble_file(base: Path, alias: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in alias)
    return base / ".gantry-pr" / f"provider-errors-{safe}"


def provider_trouble(base: Path, alias: str) -> float:
    """Count one more provider failure in a row for this step; the wait before asking again
    (backoff, kept in the promotion's working directory: a new worker starts over)."""
    path = _trouble_file(base, alias)
    try:
        count = int(path.read_text())
    except (OSError, ValueError):
        count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(count + 1))
    return min(ERROR_WAIT_FIRST * 2**count, ERROR_WAIT_MAX)


def provider_ok(base: Path, alias: str) -> None:
    _trouble_file(base, alias).unlink(missing_ok=True)


@asynccontextmanager
async def provider_for(config: GitOpenPRConfig | GitWaitForPRConfig | GitMergePRConfig) -> AsyncIterator[GitProvider]:
    """The provider named by config's `repoURL` / `provider` / `insecureSkipTLSVerify`."""
    repo_url = checked_repo_url(config.repo_url)
    verify = not config.insecure_skip_tls_verify
    try:
        async with open_provider(repo_url, config.provider, verify=verify) as provider:
            yield provider
    except ProviderError as err:
        raise step_failed(f"config field 'repoURL': {err}") from None


def refused(err: ProviderHTTPError, what: str) -> StepResult:
    """A rate limit as Running; anything else raised as the step's failure or error."""
    if err.rate_limited:
        wait = err.retry_after if err.retry_after is not None else RATE_LIMIT_DEFAULT_WAIT
        return StepResult(status="Running", message=f"{what}: rate limited by the provider; trying again in {wait:.0f}s", poll_after=wait)
    if 400 <= err.status < 500:
        raise step_failed(f"{what}: {err}")
    raise ApplicationError(f"{what}: {err}", type="ProviderError")


def unreachable(err: httpx.HTTPError, what: str) -> ApplicationError:
    return ApplicationError(f"{what}: {type(err).__name__}: {redact_url(str(err))}", type="ProviderError")
