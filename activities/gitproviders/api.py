"""What every provider module shares: a client for the service's API that carries the
repository's stored git credential, and the reading of a refused call (rate limits above all).

The credential is the one the store holds for the *repoURL* (type `git`, as for cloning); it
goes to the API base :func:`pipeline.gitproviders.repo_ref` derives from that URL's host by fixed
rules, never to a host a manifest names. It is put in the `Authorization` header only.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from activities import credentials
from activities import http_client
from activities.gitproviders.base import ProviderHTTPError
from pipeline.gitproviders import RepoRef

#: seconds a provider call may take
API_TIMEOUT = 30.0


def token_for(repo_url: str, *, verify: bool = True) -> credentials.Credentials | None:
    """The stored git credential for the repository (a refused or broken one fails the step)."""
    return http_client.stored_credentials(repo_url, "git", verify=verify)


def client(repo: RepoRef, creds: credentials.Credentials | None, headers: dict[str, str], *, verify: bool = True) -> httpx.AsyncClient:
    """An httpx client for `repo.api` with `headers` (the provider's auth header and media type)."""
    return http_client.client(timeout=API_TIMEOUT, verify=verify, creds=creds, headers=headers, base_url=repo.api)


def retry_after(response: httpx.Response) -> float | None:
    """How long the service asks us to wait: Retry-After (seconds or a date), or a
    rate-limit reset time (GitHub's X-RateLimit-Reset, GitLab's RateLimit-Reset: epoch
    seconds) when the remaining allowance is 0."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    remaining = response.headers.get("X-RateLimit-Remaining") or response.headers.get("RateLimit-Remaining")
    reset = response.headers.get("X-RateLimit-Reset") or response.headers.get("RateLimit-Reset")
    if remaining == "0" and reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


def _reasons(errors: object) -> str:
    """GitHub's `errors` list of a 422 ("Validation Failed"): the part that says what was
    wrong (`A pull request already exists for org:branch`, `head invalid`)."""
    if not isinstance(errors, list):
        return ""
    parts = []
    for e in errors[:5]:
        if isinstance(e, dict):
            text = e.get("message") or " ".join(str(e[k]) for k in ("field", "code") if e.get(k))
        else:
            text = e
        if text:
            parts.append(str(text)[:200])
    return "; ".join(parts)


def _words(message: object) -> str:
    """A service's error message as one line: GitLab answers validation errors with a list
    (`["Another open merge request already exists..."]`) or a field map
    (`{"source_branch": ["is invalid"]}`)."""
    if isinstance(message, list):
        return "; ".join(_words(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(f"{key} {_words(value)}" for key, value in message.items())
    return str(message)[:500]


def next_page(response: httpx.Response) -> int | None:
    """The number of the next page of a paginated list, or None on the last page: GitLab's
    `X-Next-Page`, else the `page` of the `Link: <...>; rel="next"` URL (Gitea, GitHub...).
    Only the number is taken: the next request goes to our own API base with our own
    parameters, never to a URL the service wrote (a Gitea `ROOT_URL` may name another host)."""
    value = response.headers.get("X-Next-Page")
    if value is not None:
        return int(value) if value.strip().isdigit() else None
    link = response.links.get("next")
    if link and link.get("url"):
        page = httpx.URL(link["url"]).params.get("page")
        if page and page.isdigit():
            return int(page)
    return None


def check(response: httpx.Response, what: str) -> httpx.Response:
    """The response when it succeeded; else ProviderHTTPError with the service's own words
    (`message`, GitLab's `message`/`error`, Azure's `message`, Bitbucket's `error.message`;
    GitHub's `errors` after the message)."""
    if response.is_success:
        return response
    detail = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            error = body.get("error")
            detail = _words(body.get("message") or (error.get("message") if isinstance(error, dict) else error) or "")
            reasons = _reasons(body.get("errors"))
            if reasons:
                detail = f"{detail} ({reasons})" if detail else reasons
    except ValueError:
        detail = response.text.strip()[:200]
    wait = retry_after(response) if response.status_code in (403, 429) else None
    message = f"{what}: HTTP {response.status_code}" + (f": {detail}" if detail else "")
    raise ProviderHTTPError(message, status=response.status_code, retry_after=wait)
