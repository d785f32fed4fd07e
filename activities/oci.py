"""A small client for the OCI Distribution API (pulling manifests and blobs) over httpx.

Authentication follows the registry's challenge: an anonymous request that gets a 401
with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` fetches a token from
the realm (with basic auth when the credential store holds credentials for the
repository) and retries with it; ``WWW-Authenticate: Basic`` retries with basic auth.

Credentials are looked up by repository (type ``image``, or ``helm`` for ``oci://``
references). The keys tried, first match wins: ``<registry>/<repository>``,
``oci://<registry>/<repository>``, ``https://<registry>/<repository>``.

Where they go (``activities.credentials`` documents the rules for operators):

* basic credentials go to a token realm only when ``realm_allowed``: the registry's own
  host name over https (or over the registry's own scheme, plain http for a loopback
  registry), Docker Hub's ``https://auth.docker.io/`` for Docker Hub, or a prefix the
  credential lists in ``tokenRealms``; never over plain http to another host. Another
  realm is asked for a token anonymously (as Docker does for a realm it holds nothing
  for), and a denial then says the credentials were withheld and why;
* the registry's ``Authorization`` (basic, or the token) is sent only to the registry's
  own origin: redirects are followed here, and one to another scheme, host or port (an
  S3-style blob redirect) is followed without it, as is a ``Link`` to another origin.

Besides pulling (the oci-download step) and pushing (the oci-push step, whose first push
request widens a pull token to a push one), Warehouse discovery lists a repository's tags
(``Registry.tags``, following ``Link`` pagination) and reads image config blobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import credentials
from activities.credentials import CredentialsError, redact_url
from activities.steps.base import step_failed
from pipeline.yamlsafe import json_loads

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
#: tags asked for per page of ``/tags/list`` (registries may answer with fewer)
TAGS_PAGE_SIZE = 1000
#: config blobs larger than this are not read (a config is a few KiB)
MAX_CONFIG_BYTES = 4 * 1024 * 1024

_REF = re.compile(
    r"^(?P<name>[a-zA-Z0-9._-]+(?::\d+)?(?:/[a-zA-Z0-9._-]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?(?:@(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Fa-f0-9]{32,}))?$"
)
_INSECURE_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
#: a request body: bytes, or a function giving a fresh stream for each try (pushes)
Content = bytes | Callable[[], AsyncIterator[bytes]] | None


class OCIError(Exception):
    """A registry answer that retrying cannot change (not found, denied, bad content)."""


class NotFound(OCIError):
    """A 404; ``code`` is the registry's error code (NAME_UNKNOWN, MANIFEST_UNKNOWN, ...)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port] as written ("docker.io" for Docker Hub)
    repository: str
    tag: str = ""
    digest: str = ""
    cred_type: credentials.CredentialType = "image"

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.registry in ("docker.io", "index.docker.io") else self.registry

    @property
    def scheme(self) -> str:
        """Plain HTTP for loopback registries (as go-containerregistry does), else HTTPS."""
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else self.registry.split("]")[0] + "]"
        return "http" if host in _INSECURE_HOSTS or host.endswith(".localhost") or host.endswith(".local") else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.api_host}/v2/{self.repository}"

    @property
    def reference(self) -> str:
        return self.digest or self.tag

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "") + (
            f"@{self.digest}" if self.digest else ""
        )


def _split_name(name: str) -> tuple[str, str]:
    """``registry/repository`` from a name; Docker Hub when the first part is no host."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", name if "/" in name else "library/" + name


def parse_reference(ref: str, field: str = "imageRef") -> Reference:
    """``[oci://]registry[:port]/repo[:tag][@digest]``; Docker Hub short names too.
    A tag or a digest is required (as in Kargo's schema)."""
    cred_type: credentials.CredentialType = "image"
    raw = ref.strip()
    if raw.startswith("oci://"):
        raw, cred_type = raw[len("oci://"):], "helm"
    m = _REF.match(raw)
    if not m or not (m.group("tag") or m.group("digest")):
        raise step_failed(
            f"config field {field!r}: {ref!r} is not an image reference with a tag or digest "
            "(registry/repository:tag or registry/repository@sha256:...)"
        )
    registry, repository = _split_name(m.group("name"))
    if repository != repository.lower():
        raise step_failed(f"config field {field!r}: repository names must be lower case: {ref!r}")
    return Reference(registry, repository, m.group("tag") or "", m.group("digest") or "", cred_type)


def parse_repository(url: str) -> Reference:
    """A repository without tag or digest (a Warehouse's ``repoURL``):
    ``[oci://]registry[:port]/repo`` or a Docker Hub name (``nginx`` is
    ``docker.io/library/nginx``). Raises ValueError saying what is wrong."""
    cred_type: credentials.CredentialType = "image"
    raw = url.strip()
    if raw.startswith("oci://"):
        raw, cred_type = raw[len("oci://"):], "helm"
    m = _REF.match(raw)
    if not m:
        raise ValueError(f"{url!r} is not an image repository (registry/repository)")
    if m.group("tag") or m.group("digest"):
        raise ValueError(f"{url!r} names a tag or digest; repoURL must be a repository only")
    registry, repository = _split_name(m.group("name"))
    if repository != repository.lower():
        raise ValueError(f"repository names must be lower case: {url!r}")
    return Reference(registry, repository, cred_type=cred_type)


def find_credentials(ref: Reference) -> credentials.Credentials | None:
    """The stored credentials for the repository; CredentialsError when the store is broken."""
    path = f"{ref.registry}/{ref.repository}"
    for key in (path, f"oci://{path}", f"https://{path}"):
        found = credentials.lookup(key, ref.cred_type)
        if found is not None:
            return found
    return None


def lookup_credentials(ref: Reference) -> credentials.Credentials | None:
    """``find_credentials`` for steps: a broken store fails the step."""
    try:
        return find_credentials(ref)
    except CredentialsError as e:
        raise step_failed(f"credential configuration: {e}") from None


_DOCKER_HUB_REALM = "https://auth.docker.io/"
MAX_REDIRECTS = 10


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    u = httpx.URL(str(url))
    return u.scheme, u.host, u.port


def realm_allowed(ref: Reference, creds: credentials.Credentials | None, realm: str) -> bool:
    """Whether the registry's basic credentials may be sent to the token service ``realm``."""
    try:
        u = httpx.URL(realm)
    except (httpx.InvalidURL, TypeError):
        return False
    if u.scheme not in ("http", "https") or u.userinfo or not u.host:
        return False
    registry = httpx.URL(ref.base_url)
    if u.host == registry.host and u.scheme in ("https", ref.scheme):
        return True
    if u.scheme != "https":
        return False  # never plain http to another host
    if ref.api_host == "registry-1.docker.io" and credentials.prefix_matches(_DOCKER_HUB_REALM, realm):
        return True
    return creds is not None and any(credentials.prefix_matches(p, realm) for p in creds.token_realms)


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'([A-Za-z]+)="([^"]*)"', rest)}
    return scheme.lower(), params


@dataclass
class Registry:
    """An authenticated session with one repository of one registry."""

    ref: Reference
    client: httpx.AsyncClient
    creds: credentials.Credentials | None = None
    _auth: dict[str, str] = field(default_factory=dict)
    _auth_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _scope: str = ""  # the scope of the bearer token held
    #: why the credentials were not sent to the realm the registry named (for messages)
    withheld: str = ""

    async def _answer_challenge(self, response: httpx.Response, sent: dict[str, str]) -> bool:
        """True when a retry may succeed: a concurrent request already authenticated
        (so ``sent`` is stale), or this challenge was answered now. One lock, so many
        concurrent requests fetch one token."""
        async with self._auth_lock:
            if self._auth is not sent:
                return bool(self._auth)
            return await self._authenticate(response)

    async def _authenticate(self, response: httpx.Response) -> bool:
        """Answer a 401 challenge; False when there is nothing more to try. A token is
        asked for again only when the challenge names a wider scope than the one held
        (a push after a pull)."""
        scheme, params = _parse_challenge(response.headers.get("www-authenticate", ""))
        if self._auth and not (scheme == "bearer" and params.get("scope") and params["scope"] != self._scope):
            return False
        basic = (self.creds.username, self.creds.password) if self.creds and self.creds.password else None
        if scheme == "basic":
            if basic is None:
                return False
            self._auth = {"Authorization": "Basic " + _b64(f"{basic[0]}:{basic[1]}")}
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = {"scope": params.get("scope") or f"repository:{self.ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        realm = params["realm"]
        if basic is not None and not realm_allowed(self.ref, self.creds, realm):
            basic = None
            self.withheld = (
                f"the credentials ({self.creds.source if self.creds else '?'}) were not sent to the token service "
                f"{redact_url(realm)}: it is not on the registry's host over https, nor in the credential's tokenRealms"
            )
            if activity.in_activity():
                activity.logger.warning("oci %s: asking %s for a token anonymously: %s", self.ref.registry, redact_url(realm), self.withheld)
        try:
            token_resp = await self.client.get(realm, params=query, auth=basic)
        except httpx.UnsupportedProtocol:
            raise OCIError(f"the registry {self.ref.registry} named a token service that is not http(s): {redact_url(realm)}") from None
        if token_resp.status_code in (401, 403):
            if self.withheld:
                raise OCIError(f"the token service of {self.ref.registry}/{self.ref.repository} refused an anonymous request; {self.withheld}")
            raise OCIError(f"the registry's token service refused the credentials for {self.ref.registry}/{self.ref.repository}")
        if token_resp.status_code != 200:
            raise ApplicationError(f"token service of {self.ref.registry} returned HTTP {token_resp.status_code}", type="OCIError")
        body = json_loads(token_resp.content)
        token = body.get("token") or body.get("access_token")
        if not token:
            raise OCIError(f"the token service of {self.ref.registry} returned no token")
        self._auth, self._scope = {"Authorization": f"Bearer {token}"}, query["scope"]
        return True

    async def _send(
        self, method: str, url: str, headers: dict[str, str], auth: dict[str, str], stream: bool, content: Content = None
    ) -> httpx.Response:
        """Send, following redirects here: ``auth`` goes only to the registry's own origin."""
        home = _origin(self.ref.base_url)
        for _ in range(MAX_REDIRECTS + 1):
            extra = auth if _origin(url) == home else {}
            body = content() if callable(content) else content
            req = self.client.build_request(method, url, headers={**headers, **extra}, content=body)
            resp = await self.client.send(req, stream=stream, follow_redirects=False)
            if not (resp.is_redirect and resp.headers.get("location")):
                return resp
            await resp.aclose()
            url = str(resp.url.join(resp.headers["location"]))
            if resp.status_code == 303 and method != "HEAD":
                method = "GET"
        raise ApplicationError(f"{self.ref.registry}: more than {MAX_REDIRECTS} redirects", type="OCIError")

    async def request(
        self, method: str, url: str, *, stream: bool = False, headers: dict[str, str] | None = None, content: Content = None
    ) -> httpx.Response:
        """Send with the current authorisation, answering one 401 challenge. ``content`` is
        a body, or a function giving a fresh body stream for each try."""
        for _ in range(3):
            sent = self._auth
            resp = await self._send(method, url, headers or {}, sent, stream, content)
            if resp.status_code != 401:
                return resp
            await resp.aclose()
            if not await self._answer_challenge(resp, sent):
                break
        who = "with the configured credentials" if self.creds else "anonymously (no credentials configured)"
        raise OCIError(f"access to {self.ref.registry}/{self.ref.repository} denied {who}" + (f"; {self.withheld}" if self.withheld else ""))

    async def manifest(self, reference: str) -> tuple[dict[str, Any], str, str]:
        """The manifest (parsed), its media type and its digest."""
        url = f"{self.ref.base_url}/manifests/{reference}"
        resp = await self.request("GET", url, headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            raise NotFound(f"{self.ref.registry}/{self.ref.repository}:{reference} not found", _error_code(resp))
        if resp.status_code == 403:
            raise OCIError(f"access to {self.ref.registry}/{self.ref.repository} forbidden")
        if resp.status_code != 200:
            raise ApplicationError(f"GET manifest {reference} returned HTTP {resp.status_code}", type="OCIError")
        data = resp.content
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise OCIError(f"manifest digest mismatch: asked for {reference}, got {digest}")
        try:
            doc = json_loads(resp.content)
        except ValueError:
            raise OCIError(f"manifest {reference} is not JSON") from None
        media = resp.headers.get("content-type", "").split(";")[0].strip() or doc.get("mediaType", "")
        if doc.get("mediaType"):
            media = doc["mediaType"]
        return doc, media, digest

    async def image_manifest(self, reference: str) -> dict[str, Any]:
        """The image manifest, resolving an index to its linux/amd64 entry (or its first)."""
        doc, media, _ = await self.manifest(reference)
        if media in INDEX_TYPES or "manifests" in doc:
            entries = doc.get("manifests") or []
            if not entries:
                raise OCIError(f"index {reference} lists no manifests")
            pick = next(
                (
                    e for e in entries
                    if (e.get("platform") or {}).get("os") == "linux" and (e.get("platform") or {}).get("architecture") == "amd64"
                ),
                entries[0],
            )
            doc, media, _ = await self.manifest(pick["digest"])
        if "layers" not in doc:
            raise OCIError(f"{self.ref} has an unsupported manifest type {media!r}")
        return doc

    async def blob(self, digest: str) -> httpx.Response:
        """A streaming response for a blob; the caller closes it."""
        resp = await self.request("GET", f"{self.ref.base_url}/blobs/{digest}", stream=True)
        if resp.status_code == 200:
            return resp
        await resp.aclose()
        if resp.status_code == 404:
            raise OCIError(f"blob {digest} not found in {self.ref.registry}/{self.ref.repository}")
        raise ApplicationError(f"GET blob {digest} returned HTTP {resp.status_code}", type="OCIError")


    async def tags(self, page_size: int | None = None, on_page: Any = None, max_pages: int | None = None) -> list[str]:
        """Every tag of the repository (or of its first ``max_pages`` pages), page by
        page (``?n=``, then the ``Link`` header's next page); ``on_page(count_so_far)``
        after each page, e.g. to heartbeat."""
        url: str | None = f"{self.ref.base_url}/tags/list?n={page_size or TAGS_PAGE_SIZE}"
        found: list[str] = []
        pages = 0
        while url and (max_pages is None or pages < max_pages):
            pages += 1
            resp = await self.request("GET", url, headers={"Accept": "application/json"})
            self._check_listing(resp)
            try:
                page = json_loads(resp.content).get("tags") or []
            except (ValueError, AttributeError):
                raise OCIError(f"the tag list of {self.ref.registry}/{self.ref.repository} is not JSON") from None
            found.extend(page)
            nxt = resp.links.get("next", {}).get("url")
            # an empty page or a link to itself would loop forever
            url = str(resp.url.join(nxt)) if nxt and page and str(resp.url.join(nxt)) != url else None
            if on_page is not None:
                on_page(len(found))
        return found

    def _check_listing(self, resp: httpx.Response) -> None:
        where = f"{self.ref.registry}/{self.ref.repository}"
        if resp.status_code == 200:
            return
        if resp.status_code == 404:
            raise NotFound(f"repository {where} not found", _error_code(resp))
        if resp.status_code == 403:
            raise OCIError(f"access to {where} forbidden")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise ApplicationError(f"listing tags of {where} returned HTTP {resp.status_code}", type="OCIError")
        raise OCIError(f"listing tags of {where} returned HTTP {resp.status_code}")

    async def config(self, descriptor: dict[str, Any]) -> dict[str, Any]:
        """An image config blob (small JSON); ``{}`` when it is too big or not JSON."""
        if int(descriptor.get("size") or 0) > MAX_CONFIG_BYTES:
            return {}
        resp = await self.blob(descriptor["digest"])
        try:
            data = await resp.aread()
        finally:
            await resp.aclose()
        try:
            doc = json_loads(data)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}


def _error_code(resp: httpx.Response) -> str:
    """The first error code of a registry error body (``{"errors": [{"code": ...}]}``)."""
    try:
        errors = json_loads(resp.content).get("errors") or []
        return str(errors[0].get("code") or "")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
