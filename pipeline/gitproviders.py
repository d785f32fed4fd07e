"""Which Git hosting service a repoURL lives on, and where its REST API is (no I/O).

Kargo infers the provider from the repoURL's host (`pkg/gitprovider`): github.com and hosts
named like GitHub Enterprise are GitHub, gitlab.com GitLab, dev.azure.com / *.visualstudio.com
Azure DevOps, bitbucket.org Bitbucket Cloud, codeberg.org Forgejo (Gitea's API); any other
host needs `provider:` in the step's config. The API base comes from the host as each
service documents it (GitHub Enterprise: `https://<host>/api/v3`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

ProviderKind = Literal["github", "gitlab", "gitea", "azure", "bitbucket"]
#: `provider:` values accepted, as Kargo spells them, and what each means here
PROVIDER_NAMES: dict[str, ProviderKind] = {
    "github": "github",
    "gitlab": "gitlab",
    "gitea": "gitea",
    "forgejo": "gitea",
    "azure": "azure",
    "bitbucket": "bitbucket",
}
_KNOWN_HOSTS: dict[str, ProviderKind] = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "dev.azure.com": "azure",
    "bitbucket.org": "bitbucket",
    "codeberg.org": "gitea",
    "gitea.com": "gitea",
}


class ProviderError(ValueError):
    """The repoURL or `provider` does not name a service Gantry can talk to."""


@dataclass(frozen=True)
class RepoRef:
    """One repository on one service: what every provider call needs."""

    kind: ProviderKind
    #: scheme://host[:port] of the web UI and git remote
    origin: str
    #: the REST API's base URL (no trailing slash)
    api: str
    #: the repository's path on the service: `owner/name`, GitLab's `group/sub/name`,
    #: Azure's `org/project/_git/name`
    path: str

    @property
    def owner(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def infer_kind(host: str) -> ProviderKind | None:
    host = host.lower()
    if host in _KNOWN_HOSTS:
        return _KNOWN_HOSTS[host]
    if host.endswith(".visualstudio.com"):
        return "azure"
    if host.startswith("github.") or ".github." in host or host.endswith(".ghe.com"):
        return "github"
    if host.startswith("gitlab."):
        return "gitlab"
    if host.startswith(("gitea.", "forgejo.")):
        return "gitea"
    return None


def repo_ref(repo_url: str, provider: str | None = None) -> RepoRef:
    """The service, API base and repository path of an https repoURL."""
    parts = urlsplit(repo_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProviderError(f"repoURL {repo_url!r}: pull requests need an http(s) URL of the repository")
    host = parts.hostname.lower()
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    if provider:
        kind = PROVIDER_NAMES.get(provider.lower())
        if kind is None:
            raise ProviderError(f"provider {provider!r} is not one of {', '.join(sorted(PROVIDER_NAMES))}")
    else:
        kind = infer_kind(host)
        if kind is None:
            raise ProviderError(
                f"repoURL {repo_url!r}: cannot tell the Git hosting service from host {host!r}; "
                f"set provider (one of {', '.join(sorted(PROVIDER_NAMES))})"
            )
    path = parts.path.strip("/").removesuffix(".git")
    if path.count("/") < 1:
        raise ProviderError(f"repoURL {repo_url!r}: expected a repository path like owner/name")
    if kind == "github":
        api = "https://api.github.com" if host == "github.com" else f"{origin}/api/v3"
    elif kind == "gitlab":
        api = f"{origin}/api/v4"
    elif kind == "gitea":
        api = f"{origin}/api/v1"
    elif kind == "bitbucket":
        api = "https://api.bitbucket.org/2.0" if host == "bitbucket.org" else f"{origin}/2.0"
    else:  # azure: https://dev.azure.com/<org>/<project>/_git/<repo>
        segments = path.split("/")
        if host.endswith(".visualstudio.com"):
            segments = [host.split(".", 1)[0], *segments]
        if len(segments) != 4 or segments[2] != "_git":
            raise ProviderError(f"repoURL {repo_url!r}: expected https://dev.azure.com/<org>/<project>/_git/<repo>")
        path = "/".join(segments)
        # https://dev.azure.com/<org>/<project>/_apis/...; https://<org>.visualstudio.com/<project>/_apis/...
        api = origin if host.endswith(".visualstudio.com") else f"{origin}/{segments[0]}"
    return RepoRef(kind=kind, origin=origin, api=api, path=path)
