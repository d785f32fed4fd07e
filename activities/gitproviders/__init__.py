"""Git hosting services behind one interface (`base.GitProvider`), one module each.

`open_provider(repo_url, provider, verify=...)` picks the module from the repoURL's host or
the step's `provider` (`pipeline.gitproviders`), looks the repository's credential up in the
store and gives a provider whose client is closed on leaving the `async with`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from activities.gitproviders.api import token_for
from activities.gitproviders.base import GitProvider, ProviderHTTPError, PullRequest
from pipeline.gitproviders import ProviderKind, repo_ref

#: provider kind -> (module, class)
MODULES: dict[ProviderKind, tuple[str, str]] = {
    "github": ("activities.gitproviders.github", "GitHubProvider"),
    "gitlab": ("activities.gitproviders.gitlab", "GitLabProvider"),
    "gitea": ("activities.gitproviders.gitea", "GiteaProvider"),
    "azure": ("activities.gitproviders.azure", "AzureDevOpsProvider"),
    "bitbucket": ("activities.gitproviders.bitbucket", "BitbucketProvider"),
}


@asynccontextmanager
async def open_provider(repo_url: str, provider: str | None = None, *, verify: bool = True) -> AsyncIterator[GitProvider]:
    """The provider for `repo_url` (ProviderError for a URL or name it cannot serve)."""
    repo = repo_ref(repo_url, provider)
    module, name = MODULES[repo.kind]
    try:
        cls = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        from pipeline.gitproviders import ProviderError

        raise ProviderError(f"pull requests on {repo.kind} are not supported yet") from None
    instance: GitProvider = cls(repo, token_for(repo_url, verify=verify), verify=verify)
    try:
        yield instance
    finally:
        await instance.aclose()


__all__ = ["GitProvider", "ProviderHTTPError", "PullRequest", "open_provider"]
