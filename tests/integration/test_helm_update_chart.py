"""helm-update-chart against real repositories: a loopback Helm chart repository (stdlib
HTTP server serving index.yaml and .tgz archives built here, optionally behind basic
auth) and oci:// charts in the real registry of tests/registry.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps.base import STEP_FAILED, workdir
from activities.steps.helm_update_chart import helm_update_chart
from tests.gitrepos import promo, step, work_root  # noqa: F401
from tests.helmrepo import ChartRepo
from tests.registry import PASSWORD, USER, Registry, free_port, push_artifact, registry  # noqa: F401

pytestmark = pytest.mark.integration

env = ActivityEnvironment()
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def chart_tgz(name: str, version: str) -> bytes:
    """A minimal chart archive, as `helm package` lays it out (same bytes on every call)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, text in (
            (f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: {version}\n"),
            (f"{name}/values.yaml", f"marker: {name}-{version}\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


APP_VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]


@pytest.fixture
def chart_repo() -> Iterator[ChartRepo]:
    repo = ChartRepo()
    server = repo.serve()
    # index entries in no particular order; 1.2.0 is listed by absolute URL, 1.1.0 relative
    entries = []
    for v in ["1.1.0", "2.0.0", "1.0.0", "1.2.0"]:
        url = f"{repo.url}/charts/pkgs/app-{v}.tgz" if v == "1.2.0" else f"pkgs/app-{v}.tgz"
        entries.append(f"  - {{name: app, version: {v}, urls: ['{url}']}}\n")
        repo.files[f"/charts/pkgs/app-{v}.tgz"] = (200, chart_tgz("app", v))
    entries.append("  - {name: app, version: 3.0.0}\n")  # no urls: not a usable entry
    index = "apiVersion: v1\nentries:\n  app:\n" + "".join(entries) + "generated: '2024-01-01T00:00:00Z'\n"
    repo.files["/charts/index.yaml"] = (200, index.encode())
    yield repo
    server.shutdown()
    server.server_close()


@pytest.fixture
def redis_repo(registry: Registry) -> str:
    """An oci:// repository (anonymous pull) holding redis 17.0.0, 17.0.1+build.2, 18.0.0."""
    base = f"public/charts-{uuid.uuid4().hex[:8]}"
    for version in ("17.0.0", "17.0.1+build.2", "18.0.0"):
        push_artifact(
            registry,
            f"{base}/redis",
            version.replace("+", "_"),
            [(chart_tgz("redis", version), CHART_LAYER)],
            config=b'{"name": "redis", "version": "%s"}' % version.encode(),
            config_media_type=HELM_CONFIG,
        )
    return f"oci://{registry.host}/{base}"


def umbrella(app_repo: str, app_version: str, redis_repo: str, redis_version: str) -> str:
    return f"""\
apiVersion: v2
name: umbrella   # the umbrella chart
version: 1.0.0
dependencies:
  # the app itself
  - name: app
    repository: {app_repo}
    version: "{app_version}"   # pinned
  - name: redis
    repository: {redis_repo}
    version: {redis_version}
    condition: redis.enabled
"""


def write(promotion: str, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = workdir(promotion) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
    return workdir(promotion)


async def run(promotion: str, config: dict):
    return await env.run(helm_update_chart, step(promotion, "helm-update-chart", config))


async def failure(promotion: str, config: dict) -> ApplicationError:
    with pytest.raises(ApplicationError) as e:
        await run(promotion, config)
    return e.value


def lock_digest(req: list[str], lock: list[str]) -> str:
    """Helm's HashReq written out by hand: the Go JSON of [Chart.yaml deps, lock deps]."""
    text = "[[" + ",".join(req) + "],[" + ",".join(lock) + "]]"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def lock_parts(text: str) -> tuple[str, str]:
    """Chart.lock without its `generated` line, and that line."""
    lines = text.splitlines(keepends=True)
    assert lines[-1].startswith('generated: "') and lines[-1].endswith('"\n'), text
    return "".join(lines[:-1]), lines[-1]


async def test_update_downloads_and_locks(promo: str, chart_repo: ChartRepo, redis_repo: str) -> None:
    app_repo = f"{chart_repo.url}/charts"
    chart = umbrella(app_repo, "1.0.0", redis_repo, "17.0.0")
    base = write(promo, {
        "src/umbrella/Chart.yaml": chart,
        "src/umbrella/charts/app-1.0.0.tgz": chart_tgz("app", "1.0.0"),  # the old archive
        "src/umbrella/charts/README.md": "not a chart\n",
    })
    cfg = {"path": "./src/umbrella", "charts": [{"repository": app_repo, "name": "app", "version": "1.1.0"}]}
    res = await run(promo, cfg)

    assert res.outputs == {"commitMessage": "Updated chart dependencies for ./src/umbrella\n\n- app: 1.0.0 -> 1.1.0"}
    chart_dir = base / "src/umbrella"
    assert (chart_dir / "Chart.yaml").read_text() == chart.replace('"1.0.0"   # pinned', '"1.1.0"   # pinned')
    assert sorted(p.name for p in (chart_dir / "charts").iterdir()) == ["README.md", "app-1.1.0.tgz", "redis-17.0.0.tgz"]
    assert (chart_dir / "charts/app-1.1.0.tgz").read_bytes() == chart_tgz("app", "1.1.0")
    assert (chart_dir / "charts/redis-17.0.0.tgz").read_bytes() == chart_tgz("redis", "17.0.0")
    assert "/charts/pkgs/app-1.1.0.tgz" in chart_repo.seen  # the relative URL, resolved

    digest = lock_digest(
        [
            f'{{"name":"app","version":"1.1.0","repository":"{app_repo}"}}',
            f'{{"name":"redis","version":"17.0.0","repository":"{redis_repo}","condition":"redis.enabled"}}',
        ],
        [
            f'{{"name":"app","version":"1.1.0","repository":"{app_repo}"}}',
            f'{{"name":"redis","version":"17.0.0","repository":"{redis_repo}"}}',
        ],
    )
    lock, generated = lock_parts((chart_dir / "Chart.lock").read_text())
    assert lock == (
        f"dependencies:\n- name: app\n  repository: {app_repo}\n  version: 1.1.0\n"
        f"- name: redis\n  repository: {redis_repo}\n  version: 17.0.0\n"
        f"digest: {digest}\n"
    )
    assert "wrote Chart.lock" in res.message and "removed charts/app-1.0.0.tgz" in res.message

    # a second run: nothing to change, Chart.lock (with its `generated`) and archives untouched
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (chart_dir / "charts").iterdir()}
    lock_before = (chart_dir / "Chart.lock").read_bytes()
    again = await run(promo, cfg)
    assert again.outputs == {} and again.message == ""
    assert (chart_dir / "Chart.lock").read_bytes() == lock_before
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (chart_dir / "charts").iterdir()} == before
    assert generated in lock_before.decode()


async def test_ranges_resolve_to_the_newest_match(promo: str, chart_repo: ChartRepo, redis_repo: str) -> None:
    app_repo = f"{chart_repo.url}/charts/"  # a trailing slash, as people write it
    chart = umbrella(app_repo, "^1.0.0", redis_repo, "~17.0")
    base = write(promo, {"c/Chart.yaml": chart})
    res = await run(promo, {"path": "./c"})  # no `charts`: only the dependency update
    assert res.outputs == {}
    assert (base / "c/Chart.yaml").read_text() == chart  # ranges stay in Chart.yaml
    # 1.2.0 (not 2.0.0, nor 3.0.0 that has no URL); the tag 17.0.1_build.2 is 17.0.1+build.2
    assert sorted(p.name for p in (base / "c/charts").iterdir()) == ["app-1.2.0.tgz", "redis-17.0.1+build.2.tgz"]
    assert (base / "c/charts/redis-17.0.1+build.2.tgz").read_bytes() == chart_tgz("redis", "17.0.1+build.2")
    lock, _ = lock_parts((base / "c/Chart.lock").read_text())
    digest = lock_digest(
        [
            f'{{"name":"app","version":"^1.0.0","repository":"{app_repo}"}}',
            f'{{"name":"redis","version":"~17.0","repository":"{redis_repo}","condition":"redis.enabled"}}',
        ],
        [
            f'{{"name":"app","version":"1.2.0","repository":"{app_repo}"}}',
            f'{{"name":"redis","version":"17.0.1+build.2","repository":"{redis_repo}"}}',
        ],
    )
    assert lock == (
        f"dependencies:\n- name: app\n  repository: {app_repo}\n  version: 1.2.0\n"
        f"- name: redis\n  repository: {redis_repo}\n  version: 17.0.1+build.2\n"
        f"digest: {digest}\n"
    )


async def test_missing_version_fails_and_writes_nothing(promo: str, chart_repo: ChartRepo, redis_repo: str) -> None:
    app_repo = f"{chart_repo.url}/charts"
    chart = umbrella(app_repo, "1.0.0", redis_repo, "17.0.0")
    base = write(promo, {"c/Chart.yaml": chart})
    e = await failure(promo, {"path": "./c", "charts": [{"repository": app_repo, "name": "app", "version": "9.9.9"}]})
    assert e.type == STEP_FAILED and e.non_retryable
    assert "'app'" in e.message and app_repo in e.message and "9.9.9" in e.message
    assert (base / "c/Chart.yaml").read_text() == chart and not (base / "c/charts").exists()
    assert not (base / "c/Chart.lock").exists()

    # the same for a tag the oci:// repository does not have
    write(promo, {"d/Chart.yaml": umbrella(app_repo, "1.0.0", redis_repo, "17.9.9")})
    e = await failure(promo, {"path": "./d"})
    assert e.type == STEP_FAILED and "'redis'" in e.message and redis_repo in e.message and "17.9.9" in e.message

    # a repository that does not answer is a retryable error naming the dependency
    write(promo, {"e/Chart.yaml": umbrella(f"http://127.0.0.1:{free_port()}/charts", "1.0.0", redis_repo, "17.0.0")})
    e = await failure(promo, {"path": "./e"})
    assert not e.non_retryable and "'app'" in e.message and "127.0.0.1" in e.message


async def test_basic_auth_from_the_credential_store(
    promo: str, chart_repo: ChartRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart_repo.auth = True
    app_repo = f"{chart_repo.url}/charts"
    chart = "apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n- name: app\n  repository: " + app_repo + "\n  version: 1.1.0\n"
    base = write(promo, {"c/Chart.yaml": chart})
    e = await failure(promo, {"path": "./c"})
    assert e.type == STEP_FAILED and "anonymously" in e.message and app_repo in e.message

    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_URL", app_repo)
    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_USERNAME", USER)
    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_PASSWORD", "wrong-password")
    e = await failure(promo, {"path": "./c"})
    assert "with the configured credentials" in e.message and "wrong-password" not in str(e) and USER not in e.message

    monkeypatch.setenv("GANTRY_HELM_CREDENTIALS_1_PASSWORD", PASSWORD)
    await run(promo, {"path": "./c"})
    assert (base / "c/charts/app-1.1.0.tgz").read_bytes() == chart_tgz("app", "1.1.0")
    assert "version: 1.1.0" in (base / "c/Chart.lock").read_text()


async def test_local_dependencies(promo: str) -> None:
    """file:// charts are packaged (reproducibly, .helmignore honoured); a dependency
    without repository must be in charts/<name> and its files are kept."""
    base = write(promo, {
        "c/Chart.yaml": (
            "apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n"
            "- name: lib\n  repository: file://../lib\n  version: '>=0.1.0'\n"
            "- name: inline\n  version: 0.x\n  repository: ''\n"
        ),
        "c/charts/inline/Chart.yaml": "apiVersion: v2\nname: inline\nversion: 0.3.0\n",
        "c/charts/inline-0.1.0.tgz": chart_tgz("inline", "0.1.0"),  # a local dependency's archive stays
        "c/charts/lib-0.0.1.tgz": chart_tgz("lib", "0.0.1"),
        "lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 0.2.0\n",
        "lib/templates/cm.yaml": "kind: ConfigMap\n",
        "lib/templates/.hidden": "skipped by Helm's default rule\n",
        "lib/notes.txt": "ignored\n",
        "lib/.helmignore": "# comment\n*.txt\n",
    })
    await run(promo, {"path": "./c"})
    charts = base / "c/charts"
    assert sorted(p.name for p in charts.iterdir()) == ["inline", "inline-0.1.0.tgz", "lib-0.2.0.tgz"]
    with tarfile.open(charts / "lib-0.2.0.tgz") as tar:
        assert tar.getnames() == ["lib/Chart.yaml", "lib/.helmignore", "lib/templates/cm.yaml"]
    lock = (base / "c/Chart.lock").read_text()
    assert "- name: inline\n  repository: \"\"\n  version: 0.x\n" in lock
    assert "- name: lib\n  repository: file://../lib\n  version: 0.2.0\n" in lock
    archive, lock_text = (charts / "lib-0.2.0.tgz").read_bytes(), lock
    await run(promo, {"path": "./c"})
    assert (charts / "lib-0.2.0.tgz").read_bytes() == archive and (base / "c/Chart.lock").read_text() == lock_text

    write(promo, {"d/Chart.yaml": "apiVersion: v2\nname: d\nversion: 0.1.0\ndependencies:\n- name: x\n  repository: file://../../..\n  version: 1.0.0\n"})
    e = await failure(promo, {"path": "./d"})
    assert e.type == STEP_FAILED and "'x'" in e.message and "working directory" in e.message
