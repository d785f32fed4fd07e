"""discover_images against a real OCI registry (Debian package docker-registry) with
token and basic authentication: every selection strategy, platforms, credentials,
pagination and the two error kinds."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import oci
from activities.discovery.images import discover_images
from tests.httpserver import ScriptedServer
from tests.registry import (  # noqa: F401  (fixtures)
    PASSWORD,
    USER,
    Registry,
    basic_registry,
    free_port,
    image_config,
    paginating_proxy,
    push_artifact,
    push_index,
    push_tags,
    registry,
)
from workflows.messages import DiscoveryRequest

pytestmark = pytest.mark.integration

env = ActivityEnvironment()
CREATED = "2024-05-01T10:00:00.123456789Z"
TAGS = [
    "0.9.1", "1.0.0", "v1.2.0", "1.2.3", "1.2.10", "1.3.0-rc.1", "1.3.0", "1.10.0",
    "2.0.0-rc.1", "2.0.0", "2.1", "3", "latest", "sha-abc123",
]  # fmt: skip
LAYER = [(b"layer", "application/octet-stream")]


def unique(prefix: str) -> str:
    return f"{prefix}/app-{uuid.uuid4().hex[:8]}"


async def discover(sub: dict) -> dict:
    request = DiscoveryRequest(project="p", warehouse="w", kind="image", subscription=sub)
    return await env.run(discover_images, request)


async def tags_of(sub: dict) -> list[str]:
    return [r["tag"] for r in (await discover(sub))["references"]]


async def failure(sub: dict) -> ApplicationError:
    with pytest.raises(ApplicationError) as e:
        await discover(sub)
    return e.value


@pytest.fixture(scope="module")
async def semver_repo(registry: Registry) -> tuple[str, dict[str, str]]:
    """A public repository with TAGS (one image config with a known ``created``)."""
    name = unique("public")
    digests = await push_tags(registry, name, TAGS, config=image_config(CREATED))
    return f"{registry.host}/{name}", digests


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch):
    def set_for(url: str, password: str = PASSWORD) -> None:
        monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_URL", url)
        monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_USERNAME", USER)
        monkeypatch.setenv("GANTRY_IMAGE_CREDENTIALS_1_PASSWORD", password)

    return set_for


# --- SemVer and Lexical -------------------------------------------------------------------


async def test_semver_default_references(semver_repo, registry: Registry) -> None:
    repo, digests = semver_repo
    before = len(registry.tokens.requests)  # type: ignore[attr-defined]
    out = await discover({"repoURL": repo})
    assert out["repoURL"] == repo and "platform" not in out
    assert [r["tag"] for r in out["references"]] == [
        "2.0.0", "2.0.0-rc.1", "1.10.0", "1.3.0", "1.3.0-rc.1", "1.2.10", "1.2.3", "v1.2.0", "1.0.0", "0.9.1",
    ]  # fmt: skip
    first = out["references"][0]
    assert first == {
        "tag": "2.0.0",
        "digest": digests["2.0.0"],
        "annotations": {"org.opencontainers.image.version": "2.0.0"},
        "createdAt": "2024-05-01T10:00:00Z",
    }
    assert all(r["digest"] == digests[r["tag"]] for r in out["references"])
    # anonymous pull of public/ through the token flow: one token for the whole pass
    asked = registry.tokens.requests[before:]  # type: ignore[attr-defined]
    assert len(asked) == 1 and not asked[0]["authenticated"] and asked[0]["scope"].endswith(":pull")


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.2", ["1.10.0", "1.3.0", "1.2.10", "1.2.3", "v1.2.0"]),
        ("~1.2.0", ["1.2.10", "1.2.3", "v1.2.0"]),
        (">=1.2.3 <2", ["1.10.0", "1.3.0", "1.2.10", "1.2.3"]),
        ("1.2.3 - 1.3.0", ["1.3.0", "1.2.10", "1.2.3"]),
        ("<1.0.0 || >=2.0.0-0", ["2.0.0", "2.0.0-rc.1", "0.9.1"]),
        ("1.3.x", ["1.3.0"]),
        (">=9", []),
    ],
)
async def test_semver_constraints(semver_repo, constraint: str, expected: list[str]) -> None:
    assert await tags_of({"repoURL": semver_repo[0], "constraint": constraint}) == expected


async def test_strict_semvers_off_accepts_partial_versions(semver_repo) -> None:
    got = await tags_of({"repoURL": semver_repo[0], "strictSemvers": False, "discoveryLimit": 4})
    assert got == ["3", "2.1", "2.0.0", "2.0.0-rc.1"]
    assert await tags_of({"repoURL": semver_repo[0], "strictSemvers": False, "constraint": "^2"}) == ["2.1", "2.0.0"]


async def test_lexical(semver_repo) -> None:
    sub = {"repoURL": semver_repo[0], "imageSelectionStrategy": "Lexical"}
    assert await tags_of(sub) == sorted(TAGS, reverse=True)
    assert await tags_of({**sub, "discoveryLimit": 3}) == ["v1.2.0", "sha-abc123", "latest"]
    assert await tags_of({**sub, "allowTagsRegexes": ["^sha-", "^latest$"]}) == ["sha-abc123", "latest"]


async def test_allow_and_ignore_regexes(semver_repo) -> None:
    repo = semver_repo[0]
    got = await tags_of({"repoURL": repo, "allowTagsRegexes": [r"^1\."], "ignoreTagsRegexes": ["rc"]})
    assert got == ["1.10.0", "1.3.0", "1.2.10", "1.2.3", "1.0.0"]
    # the deprecated fields: allowTags is one more regex, ignoreTags are exact tags
    got = await tags_of({"repoURL": repo, "allowTags": r"^1\.2", "ignoreTags": ["1.2.3", "1.2"]})
    assert got == ["1.2.10"]


async def test_discovery_limit(semver_repo) -> None:
    out = await discover({"repoURL": semver_repo[0], "discoveryLimit": 3})
    assert [r["tag"] for r in out["references"]] == ["2.0.0", "2.0.0-rc.1", "1.10.0"]


async def test_pagination_follows_link_headers(semver_repo, registry: Registry, monkeypatch) -> None:
    """distribution 2.8 answers every tag at once, so a front pages the list the way
    Docker Hub and distribution 3 do."""
    name = semver_repo[0].split("/", 1)[1]
    monkeypatch.setattr(oci, "TAGS_PAGE_SIZE", 4)
    with paginating_proxy(registry) as (front, seen):
        sub = {"repoURL": f"{front.host}/{name}", "imageSelectionStrategy": "Lexical"}
        assert await tags_of(sub) == sorted(TAGS, reverse=True)
        assert len(seen) == 4 and "n=4" in seen[0] and "last=" not in seen[0]
        assert all("last=" in s for s in seen[1:])
        assert await tags_of({"repoURL": f"{front.host}/{name}", "constraint": "^1.2", "discoveryLimit": 2}) == [
            "1.10.0",
            "1.3.0",
        ]


# --- NewestBuild ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builds_repo(registry: Registry) -> tuple[str, dict[str, str]]:
    """Tags whose build times disagree with their names (config ``created``, a later
    label, an annotation that wins, a tie, a multi-platform index, no date at all)."""
    name = unique("public")
    pushed: dict[str, str] = {}

    def push(tag: str, created: str | None, **kw):
        p = push_artifact(registry, name, tag, LAYER, config=image_config(created, **kw.pop("cfg", {})), **kw)
        pushed[tag] = p.digest
        return p

    push("a-old", "2024-01-01T00:00:00Z")
    push("z-mid", "2024-03-01T00:00:00Z")
    push("b-new", "2024-06-01T00:00:00+02:00")
    push("c-tie", "2024-04-01T00:00:00Z")
    push("d-tie", "2024-04-01T00:00:00Z")
    push("annotated", "2023-01-01T00:00:00Z", annotations={"org.opencontainers.image.created": "2024-07-01T00:00:00Z"})
    push("labelled", "2024-02-01T00:00:00Z", cfg={"config": {"Labels": {"org.label-schema.build-date": "2024-05-15T00:00:00Z"}}})
    pushed["no-date"] = push_artifact(registry, name, "no-date", LAYER).digest
    amd = push("plat-amd", "2024-02-10T00:00:00Z")
    arm = push("plat-arm", "2024-02-20T00:00:00Z", cfg={"architecture": "arm64"})
    pushed["multi"] = push_index(registry, name, "multi", [
        (amd.digest, amd.size, {"os": "linux", "architecture": "amd64"}),
        (arm.digest, arm.size, {"os": "linux", "architecture": "arm64"}),
    ])  # fmt: skip
    return f"{registry.host}/{name}", pushed



async def test_newest_build_orders_by_build_time(builds_repo) -> None:
    repo, digests = builds_repo
    out = await discover({"repoURL": repo, "imageSelectionStrategy": "NewestBuild", "ignoreTagsRegexes": ["^plat-"]})
    refs = out["references"]
    assert [r["tag"] for r in refs] == [
        "annotated", "b-new", "labelled", "d-tie", "c-tie", "z-mid", "multi", "a-old", "no-date",
    ]  # fmt: skip
    by_tag = {r["tag"]: r for r in refs}
    assert by_tag["b-new"]["createdAt"] == "2024-05-31T22:00:00Z"
    assert by_tag["multi"]["createdAt"] == "2024-02-20T00:00:00Z" and by_tag["multi"]["digest"] == digests["multi"]
    assert "createdAt" not in by_tag["no-date"]
    assert all(r["digest"] == digests[r["tag"]] for r in refs)


async def test_newest_build_limit_and_allow(builds_repo) -> None:
    sub = {"repoURL": builds_repo[0], "imageSelectionStrategy": "NewestBuild"}
    assert await tags_of({**sub, "discoveryLimit": 2}) == ["annotated", "b-new"]
    assert await tags_of({**sub, "allowTagsRegexes": ["-tie$", "^a-"]}) == ["d-tie", "c-tie", "a-old"]


# --- Digest ------------------------------------------------------------------------------


async def test_digest_follows_a_mutable_tag(registry: Registry) -> None:
    name = unique("public")
    first = push_artifact(registry, name, "stable", [(b"one", "application/octet-stream")])
    sub = {"repoURL": f"{registry.host}/{name}", "imageSelectionStrategy": "Digest", "constraint": "stable"}
    refs = (await discover(sub))["references"]
    assert [(r["tag"], r["digest"]) for r in refs] == [("stable", first.digest)]
    second = push_artifact(registry, name, "stable", [(b"two", "application/octet-stream")])
    assert (await discover(sub))["references"][0]["digest"] == second.digest != first.digest
    # a tag that does not exist (yet): no references, not an error
    assert (await discover({**sub, "constraint": "canary"}))["references"] == []


# --- platforms ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform_repo(registry: Registry) -> tuple[str, dict[str, str]]:
    name = unique("public")

    def image(tag: str, arch: str, created: str, variant: str = ""):
        extra = {"variant": variant} if variant else {}
        return push_artifact(registry, name, tag, LAYER, config=image_config(created, architecture=arch, **extra))

    amd = image("amd64-1.0.0", "amd64", "2024-01-01T00:00:00Z")
    arm = image("arm64-1.0.0", "arm64", "2024-01-02T00:00:00Z", "v8")
    attestation = push_artifact(registry, name, "att-1.1.0", LAYER)
    digests = {
        "1.0.0": push_index(registry, name, "1.0.0", [
            (amd.digest, amd.size, {"os": "linux", "architecture": "amd64"}),
            (arm.digest, arm.size, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ], annotations={"org.opencontainers.image.source": "https://git.example/app"}),
        "1.1.0": push_index(registry, name, "1.1.0", [
            (arm.digest, arm.size, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            (attestation.digest, attestation.size, {"os": "unknown", "architecture": "unknown"}),
        ], annotations={"org.opencontainers.image.created": "2024-09-09T09:09:09Z"}),
        "1.2.0": image("1.2.0", "amd64", "2024-03-01T00:00:00Z").digest,
        "1.3.0": image("1.3.0", "arm64", "2024-04-01T00:00:00Z", "v8").digest,
        "0.1.0": push_artifact(registry, name, "0.1.0", LAYER).digest,
    }  # fmt: skip
    return f"{registry.host}/{name}", digests


async def test_platform_keeps_tags_that_have_it(platform_repo) -> None:
    repo, digests = platform_repo
    out = await discover({"repoURL": repo, "platform": "linux/amd64"})
    assert out["platform"] == "linux/amd64"
    refs = out["references"]
    assert [r["tag"] for r in refs] == ["1.2.0", "1.0.0"]
    index = refs[1]
    # the index's own digest (what a deployment pins), its annotations, the platform's build time
    assert index["digest"] == digests["1.0.0"]
    assert index["annotations"] == {"org.opencontainers.image.source": "https://git.example/app"}
    assert index["createdAt"] == "2024-01-01T00:00:00Z"
    assert refs[0]["createdAt"] == "2024-03-01T00:00:00Z"
    arm = await tags_of({"repoURL": repo, "platform": "linux/arm64/v8"})
    assert arm == ["1.3.0", "1.1.0", "1.0.0"]
    assert await tags_of({"repoURL": repo, "platform": "linux/arm64"}) == []  # the variant must match
    assert await tags_of({"repoURL": repo, "platform": "windows/amd64"}) == []


async def test_platform_limit_skips_tags_without_it(platform_repo) -> None:
    repo = platform_repo[0]
    assert await tags_of({"repoURL": repo, "platform": "linux/amd64", "discoveryLimit": 1}) == ["1.2.0"]
    assert await tags_of({"repoURL": repo, "platform": "linux/amd64", "discoveryLimit": 2}) == ["1.2.0", "1.0.0"]


async def test_without_platform_every_tag_and_index_dates(platform_repo) -> None:
    repo, digests = platform_repo
    refs = (await discover({"repoURL": repo}))["references"]
    assert [r["tag"] for r in refs] == ["1.3.0", "1.2.0", "1.1.0", "1.0.0", "0.1.0"]
    by_tag = {r["tag"]: r for r in refs}
    assert by_tag["1.1.0"]["createdAt"] == "2024-09-09T09:09:09Z"  # the index states it
    assert "createdAt" not in by_tag["1.0.0"] and "createdAt" not in by_tag["0.1.0"]
    assert all(r["digest"] == digests[r["tag"]] for r in refs)


async def test_digest_with_platform(platform_repo) -> None:
    repo, digests = platform_repo
    sub = {"repoURL": repo, "imageSelectionStrategy": "Digest", "constraint": "1.1.0"}
    assert (await discover({**sub, "platform": "linux/amd64"}))["references"] == []
    refs = (await discover({**sub, "platform": "linux/arm64/v8"}))["references"]
    assert [(r["tag"], r["digest"]) for r in refs] == [("1.1.0", digests["1.1.0"])]


# --- credentials ----------------------------------------------------------------------------


async def test_private_repository_with_credentials(registry: Registry, creds) -> None:
    name = unique("private")
    digests = await push_tags(registry, name, ["1.0.0", "1.1.0"])
    sub = {"repoURL": f"{registry.host}/{name}"}
    e = await failure(sub)
    assert e.type == "DiscoveryError" and e.non_retryable and "denied anonymously" in e.message
    assert sub["repoURL"] in e.message
    creds(f"{registry.host}/private")
    refs = (await discover(sub))["references"]
    assert [(r["tag"], r["digest"]) for r in refs] == [("1.1.0", digests["1.1.0"]), ("1.0.0", digests["1.0.0"])]
    assert registry.tokens.requests[-1]["authenticated"]  # type: ignore[attr-defined]


async def test_wrong_password_is_a_discovery_error(registry: Registry, creds) -> None:
    name = unique("private")
    await push_tags(registry, name, ["1.0.0"])
    creds(f"{registry.host}/private", password="not-the-password")
    e = await failure({"repoURL": f"{registry.host}/{name}"})
    assert e.type == "DiscoveryError" and e.non_retryable
    assert "refused the credentials" in e.message and "not-the-password" not in str(e)


async def test_basic_auth_registry(basic_registry: Registry, creds) -> None:
    name = unique("team")
    digests = await push_tags(basic_registry, name, ["0.1.0", "0.2.0"])
    sub = {"repoURL": f"{basic_registry.host}/{name}"}
    e = await failure(sub)
    assert e.type == "DiscoveryError" and "no credentials configured" in e.message
    creds(basic_registry.host, password="wrong")
    e = await failure(sub)
    assert e.type == "DiscoveryError" and "denied with the configured credentials" in e.message
    assert "wrong" not in e.message
    creds(basic_registry.host)
    refs = (await discover(sub))["references"]
    assert [(r["tag"], r["digest"]) for r in refs] == [("0.2.0", digests["0.2.0"]), ("0.1.0", digests["0.1.0"])]


async def test_concurrent_requests_share_one_token(semver_repo, registry: Registry) -> None:
    """Requests that meet the challenge together fetch one token, and none is refused."""
    ref = oci.parse_repository(semver_repo[0])
    before = len(registry.tokens.requests)  # type: ignore[attr-defined]
    async with httpx.AsyncClient() as client:
        reg = oci.Registry(ref, client)
        results = await asyncio.gather(*(reg.manifest(t) for t in TAGS[:8]))
    assert [d for _, _, d in results] == [semver_repo[1][t] for t in TAGS[:8]]
    assert len(registry.tokens.requests) - before == 1  # type: ignore[attr-defined]


# --- errors ------------------------------------------------------------------------------


async def test_unknown_repository(registry: Registry, creds) -> None:
    repo = f"{registry.host}/{unique('public')}"
    for sub in ({"repoURL": repo}, {"repoURL": repo, "imageSelectionStrategy": "Digest", "constraint": "latest"}):
        e = await failure(sub)
        assert e.type == "DiscoveryError" and e.non_retryable and "not found" in e.message and repo in e.message


async def test_registry_down_is_retryable() -> None:
    repo = f"127.0.0.1:{free_port()}/app"
    e = await failure({"repoURL": repo})
    assert e.type == "DiscoveryUnavailable" and not e.non_retryable and repo in e.message


async def test_server_errors_are_retryable() -> None:
    with ScriptedServer(then=(503, {"errors": [{"code": "UNAVAILABLE"}]})) as server:
        repo = server.url.removeprefix("http://") + "/app"
        e = await failure({"repoURL": repo})
    assert e.type == "DiscoveryUnavailable" and not e.non_retryable and "503" in e.message


@pytest.mark.parametrize(
    ("sub", "says"),
    [
        ({"constraint": ">>1"}, ">>1"),
        ({"allowTagsRegexes": ["([a-"]}, "allowTagsRegexes"),
        ({"ignoreTagsRegexes": ["(x"]}, "ignoreTagsRegexes"),
        ({"allowTags": "[z-a]"}, "allowTags"),
        ({"imageSelectionStrategy": "NewestBuild", "ignoreTagsRegexes": ["(x"]}, "ignoreTagsRegexes"),
        ({"discoveryLimit": 101}, "discoveryLimit"),
        ({"imageSelectionStrategy": "Newest"}, "imageSelectionStrategy"),
        ({"imageSelectionStrategy": "Digest"}, "constraint"),
        ({"platform": "linux"}, "platform"),
        ({"tagz": ["x"]}, "tagz"),
        ({"repoURL": "REGISTRY/App"}, "lower case"),
        ({"repoURL": "ghcr.io/org/app:1.0"}, "tag or digest"),
    ],
)
async def test_configuration_errors_need_no_registry(sub: dict, says: str) -> None:
    """Checked before any request: the repository here is a closed port, so a request
    would have been a retryable error instead."""
    e = await failure({"repoURL": f"127.0.0.1:{free_port()}/app", **sub})
    assert e.type == "DiscoveryError" and e.non_retryable and says in e.message


def test_repository_urls() -> None:
    hub = oci.parse_repository("nginx")
    assert (hub.registry, hub.repository, hub.base_url) == (
        "docker.io", "library/nginx", "https://registry-1.docker.io/v2/library/nginx",
    )  # fmt: skip
    assert oci.parse_repository("bitnami/redis").base_url == "https://registry-1.docker.io/v2/bitnami/redis"
    assert oci.parse_repository("docker.io/library/nginx").api_host == "registry-1.docker.io"
    assert oci.parse_repository("ghcr.io/org/team/app").base_url == "https://ghcr.io/v2/org/team/app"
    assert oci.parse_repository("registry.corp:5000/app").base_url == "https://registry.corp:5000/v2/app"
    assert oci.parse_repository("localhost:5000/app").base_url == "http://localhost:5000/v2/app"
    assert oci.parse_repository("127.0.0.1:5000/a/b").base_url == "http://127.0.0.1:5000/v2/a/b"
    chart = oci.parse_repository("oci://ghcr.io/org/charts/app")
    assert (chart.repository, chart.cred_type) == ("org/charts/app", "helm")
    for bad in ("nginx:1.25", "ghcr.io/org/app@sha256:" + "a" * 64, "", "https://ghcr.io/org/app"):
        with pytest.raises(ValueError):
            oci.parse_repository(bad)
