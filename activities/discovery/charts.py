"""discover_charts: the newest versions of a Warehouse's Helm chart subscription.

Two kinds of repository, as in Kargo:

* ``http(s)://`` chart repositories: ``<repoURL>/index.yaml`` is read (basic auth from
  the credential store, type ``helm``) and the versions of the chart ``name`` are taken;
  a chart the index does not list has no versions. Versions are parsed loosely.
* ``oci://registry/path/chart``: the repository's tags are the versions (Helm writes a
  version's ``+`` as ``_`` in a tag; it is mapped back). Only strict semantic versions
  count.

Versions that are not semantic versions are skipped; ``semverConstraint`` filters; the
result is newest first, at most ``discoveryLimit``. Errors as for images: configuration,
not-found and denied are ``DiscoveryError``; unreachable or 5xx is retryable.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio import activity

from activities import credentials, http_client
from activities.credentials import redact_url
from activities.discovery.errors import discovery_error, unavailable, validated
from activities.discovery.images import TIMEOUT, discovery_errors
from activities.oci import Reference, Registry, find_credentials, parse_repository
from pipeline.discovery.selection import helm_oci_tag_version, select_chart_versions
from pipeline import yamlsafe
from pipeline.manifests.models import ChartSubscription
from pipeline.yamlsafe import JSONLimitError, json_loads
from workflows.messages import DiscoveryRequest

__all__ = ["discover_charts", "parse_index"]


def _subscription(subscription: dict[str, Any]) -> ChartSubscription:
    sub = validated(ChartSubscription, subscription, "chart")
    repo = redact_url(sub.repo_url)
    try:
        select_chart_versions([], constraint=sub.semver_constraint, limit=sub.discovery_limit)
    except ValueError as e:
        raise discovery_error(f"chart subscription {repo}: {e}") from None
    scheme = sub.repo_url.split("://", 1)[0].lower() if "://" in sub.repo_url else ""
    if scheme not in ("http", "https", "oci"):
        raise discovery_error(f"chart subscription {repo}: repoURL must start with https://, http:// or oci://")
    if scheme != "oci" and not sub.name:
        raise discovery_error(f"chart subscription {repo}: name is required for an http(s) chart repository")
    return sub


def parse_index(data: bytes) -> dict[str, Any]:
    """A repository index: JSON when it is (fast), else YAML (safe loader)."""
    try:
        doc = json_loads(data)
    except JSONLimitError:
        raise
    except ValueError:
        doc = yamlsafe.load(data)  # bounded: alias bombs and deep nesting are refused
    if not isinstance(doc, dict):
        raise TypeError("the index is not a mapping")
    return doc


def _versions_in(index: dict[str, Any], name: str) -> list[str]:
    entries = (index.get("entries") or {}).get(name) or []
    return [str(e["version"]) for e in entries if isinstance(e, dict) and e.get("version") is not None]


async def _index_versions(sub: ChartSubscription, client: httpx.AsyncClient, creds: credentials.Credentials | None) -> list[str]:
    url = sub.repo_url.rstrip("/") + "/index.yaml"
    where = f"chart repository {redact_url(sub.repo_url)}"
    headers = http_client.auth_header(creds)
    resp = await http_client.heartbeating(client.get(url, headers=headers))
    if resp.status_code in (401, 403):
        who = "with the configured credentials" if headers else "anonymously (no credentials configured)"
        raise discovery_error(f"{where}: access denied {who} (HTTP {resp.status_code})")
    if resp.status_code == 404:
        raise discovery_error(f"{where}: no index.yaml (HTTP 404)")
    if resp.status_code == 429 or resp.status_code >= 500:
        raise unavailable(f"{where}: GET index.yaml returned HTTP {resp.status_code}")
    if resp.status_code != 200:
        raise discovery_error(f"{where}: GET index.yaml returned HTTP {resp.status_code}")
    try:
        index = await http_client.heartbeating(asyncio.to_thread(parse_index, resp.content))
    except Exception as e:  # noqa: BLE001 - any parser failure means a broken index
        raise discovery_error(f"{where}: index.yaml is not a valid index: {type(e).__name__}") from None
    return _versions_in(index, str(sub.name))


def _oci_ref(sub: ChartSubscription) -> Reference:
    try:
        return parse_repository(sub.repo_url)
    except ValueError as e:
        raise discovery_error(f"chart repository {sub.repo_url}: {e}") from None


async def _oci_versions(sub: ChartSubscription, client: httpx.AsyncClient, creds: credentials.Credentials | None) -> list[str]:
    ref = _oci_ref(sub)
    beat = http_client.Heartbeat()
    reg = Registry(ref, client, creds)
    tags = await reg.tags(on_page=lambda n: beat.tick({"tags": n}))
    return [helm_oci_tag_version(t) for t in tags]


@activity.defn(name="discover_charts")
async def discover_charts(request: DiscoveryRequest) -> dict:
    """Kargo's DiscoveredArtifacts chart entry for one subscription."""
    sub = _subscription(request.subscription)
    oci = sub.repo_url.lower().startswith("oci://")
    with discovery_errors(f"chart repository {redact_url(sub.repo_url)}"):
        # credentials first: the client is built for them (no proxy unless they allow it)
        creds = find_credentials(_oci_ref(sub)) if oci else credentials.lookup(sub.repo_url, "helm")
        verify = not sub.insecure_skip_tls_verify
        credentials.check_tls(creds, sub.repo_url, verify=verify)
        async with http_client.client(timeout=TIMEOUT, verify=verify, creds=creds) as client:
            found = await (_oci_versions if oci else _index_versions)(sub, client, creds)
    versions = select_chart_versions(
        found, constraint=sub.semver_constraint, strict=oci, limit=sub.discovery_limit
    )
    out: dict[str, Any] = {"repoURL": sub.repo_url}
    if not oci:
        out["name"] = sub.name
    out["versions"] = versions
    return out

