"""discover_charts against a loopback Helm chart repository (stdlib HTTP server serving
index.yaml, with and without basic auth) and oci:// charts in the real registry."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.discovery.charts import discover_charts
from tests.helmrepo import ChartRepo
from tests.registry import PASSWORD, USER, Registry, free_port, push_tags, registry  # noqa: F401
from workflows.messages import DiscoveryRequest

pytestmark = pytest.mark.integration

env = ActivityEnvironment()
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
INDEX = b"""apiVersion: v1
entries:
  app:
  - name: app
    version: 1.0.0
    urls: [app-1.0.0.tgz]
  - {name: app, version: 1.1.0}
  - {name: app, version: 2.0.0-beta.1}
  - {name: app, version: "1.2"}
  - {name: app, version: not-a-version}
  - {name: app, version: 0.1.0+build.7}
  - {name: app, version: v1.0.0}
  other:
  - {name: other, version: 9.9.9}
generated: "2024-01-01T00:00:00Z"
"""
APP = ["2.0.0-beta.1", "1.2", "1.1.0", "v1.0.0", "1.0.0", "0.1.0+build.7"]


@pytest.fixture
def chart_repo() -> Iterator[ChartRepo]:
    repo = ChartRepo(files={"/charts/index.yaml": (200, INDEX)})
    server = repo.serve()
    yield repo
    server.shutdown()
    server.server_close()


@pytest.fixture
def helm_creds(monkeypatch: pytest.MonkeyPatch):
    def set_for(url: str, password: str = PASSWORD) -> None:
        monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_URL", url)
        monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_USERNAME", USER)
        monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_PASSWORD", password)

    return set_for


async def discover(sub: dict) -> dict:
    return await env.run(discover_charts, DiscoveryRequest(project="p", warehouse="w", kind="chart", subscription=sub))


async def failure(sub: dict) -> ApplicationError:
    with pytest.raises(ApplicationError) as e:
        await discover(sub)
    return e.value


# --- http(s) repositories ------------------------------------------------------------------


async def test_index_versions_newest_first(chart_repo: ChartRepo) -> None:
    repo = f"{chart_repo.url}/charts"
    assert await discover({"repoURL": repo, "name": "app"}) == {"repoURL": repo, "name": "app", "versions": APP}
    assert chart_repo.seen == ["/charts/index.yaml"]
    assert (await discover({"repoURL": repo + "/", "name": "other"}))["versions"] == ["9.9.9"]
    assert (await discover({"repoURL": repo, "name": "missing"}))["versions"] == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"semverConstraint": "^1.0"}, ["1.2", "1.1.0", "v1.0.0", "1.0.0"]),
        ({"semverConstraint": "<1"}, ["0.1.0+build.7"]),
        ({"semverConstraint": ">=2.0.0-0"}, ["2.0.0-beta.1"]),
        ({"semverConstraint": "~1.1 || 0.1.x"}, ["1.1.0", "0.1.0+build.7"]),
        ({"discoveryLimit": 2}, ["2.0.0-beta.1", "1.2"]),
    ],
)
async def test_constraint_and_limit(chart_repo: ChartRepo, extra: dict, expected: list[str]) -> None:
    got = await discover({"repoURL": f"{chart_repo.url}/charts", "name": "app", **extra})
    assert got["versions"] == expected


async def test_json_index(chart_repo: ChartRepo) -> None:
    doc = {"apiVersion": "v1", "entries": {"app": [{"version": "3.0.0"}, {"version": "3.1.0"}]}}
    chart_repo.files["/json/index.yaml"] = (200, json.dumps(doc).encode())
    assert (await discover({"repoURL": f"{chart_repo.url}/json", "name": "app"}))["versions"] == ["3.1.0", "3.0.0"]


async def test_basic_auth(chart_repo: ChartRepo, helm_creds, monkeypatch: pytest.MonkeyPatch) -> None:
    chart_repo.auth = True
    sub = {"repoURL": f"{chart_repo.url}/charts", "name": "app"}
    e = await failure(sub)
    assert e.type == "DiscoveryError" and e.non_retryable and "anonymously" in e.message
    # image credentials are not chart credentials
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_9_URL", chart_repo.url)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_9_USERNAME", USER)
    monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_9_PASSWORD", PASSWORD)
    assert (await failure(sub)).type == "DiscoveryError"
    helm_creds(chart_repo.url, password="bad-password")
    e = await failure(sub)
    assert "with the configured credentials" in e.message and "bad-password" not in str(e)
    helm_creds(chart_repo.url)
    assert (await discover(sub))["versions"] == APP


async def test_repository_errors(chart_repo: ChartRepo) -> None:
    chart_repo.files["/broken/index.yaml"] = (200, b"entries: [unclosed")
    chart_repo.files["/down/index.yaml"] = (503, b"maintenance")
    e = await failure({"repoURL": f"{chart_repo.url}/nowhere", "name": "app"})
    assert e.type == "DiscoveryError" and "404" in e.message and f"{chart_repo.url}/nowhere" in e.message
    e = await failure({"repoURL": f"{chart_repo.url}/broken", "name": "app"})
    assert e.type == "DiscoveryError" and "not a valid index" in e.message
    e = await failure({"repoURL": f"{chart_repo.url}/down", "name": "app"})
    assert e.type == "DiscoveryUnavailable" and not e.non_retryable and "503" in e.message
    e = await failure({"repoURL": f"http://127.0.0.1:{free_port()}/charts", "name": "app"})
    assert e.type == "DiscoveryUnavailable" and not e.non_retryable


@pytest.mark.parametrize(
    ("sub", "says"),
    [
        ({"repoURL": "https://charts.example"}, "name is required"),
        ({"repoURL": "https://charts.example", "name": "app", "semverConstraint": "^^1"}, "^^1"),
        ({"repoURL": "ftp://charts.example", "name": "app"}, "oci://"),
        ({"repoURL": "https://charts.example", "name": "app", "discoveryLimit": 0}, "discoveryLimit"),
        ({"repoURL": "oci://REG.example/Charts/App"}, "lower case"),
    ],
)
async def test_configuration_errors(sub: dict, says: str) -> None:
    e = await failure(sub)
    assert e.type == "DiscoveryError" and e.non_retryable and says in e.message


async def test_credentials_never_in_messages() -> None:
    """A repoURL with user:password@ is named without them."""
    e = await failure({"repoURL": f"http://bot:hunter2@127.0.0.1:{free_port()}/c", "name": "app"})
    assert e.type == "DiscoveryUnavailable" and "hunter2" not in str(e) and "bot" not in e.message


# --- oci:// ----------------------------------------------------------------------------------


async def test_oci_chart_versions(registry: Registry) -> None:
    name = f"public/charts/app-{uuid.uuid4().hex[:8]}"
    tags = ["0.1.0", "1.0.0", "1.0.1_build.5", "1.1.0-rc.1", "1.1", "latest", "v2.0.0"]
    await push_tags(registry, name, tags, config=b'{"name": "app"}', config_media_type=HELM_CONFIG)
    repo = f"oci://{registry.host}/{name}"
    out = await discover({"repoURL": repo})
    # strict versions only ("1.1" and "v2.0.0" are not), "_" read back as "+"
    assert out == {"repoURL": repo, "versions": ["1.1.0-rc.1", "1.0.1+build.5", "1.0.0", "0.1.0"]}
    assert (await discover({"repoURL": repo, "semverConstraint": "~1.0", "discoveryLimit": 1}))["versions"] == [
        "1.0.1+build.5"
    ]


async def test_oci_private_chart_uses_helm_credentials(registry: Registry, helm_creds) -> None:
    name = f"private/charts/app-{uuid.uuid4().hex[:8]}"
    await push_tags(registry, name, ["1.0.0"], config=b"{}", config_media_type=HELM_CONFIG)
    sub = {"repoURL": f"oci://{registry.host}/{name}"}
    e = await failure(sub)
    assert e.type == "DiscoveryError" and "denied" in e.message
    helm_creds(f"oci://{registry.host}/private/charts")
    assert (await discover(sub))["versions"] == ["1.0.0"]


async def test_oci_unknown_chart(registry: Registry) -> None:
    e = await failure({"repoURL": f"oci://{registry.host}/public/charts/none-{uuid.uuid4().hex[:6]}"})
    assert e.type == "DiscoveryError" and "not found" in e.message
