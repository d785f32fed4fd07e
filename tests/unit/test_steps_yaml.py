"""kustomize-set-image and yaml-update on files of a real checkout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps.base import STEP_FAILED, WORKDIR_LOST, workdir  # noqa: E402
from activities.steps.git_clone import git_clone  # noqa: E402
from activities.steps.kustomize_set_image import kustomize_set_image  # noqa: E402
from activities.steps.yaml_update import yaml_update  # noqa: E402
from tests.gitrepos import KUSTOMIZATION, VALUES, Remote, promo, remote, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()
FREIGHT = [
    {"name": "f1", "origin": {"kind": "Warehouse", "name": "w"}, "images": [
        {"repoURL": "my-registry/my-app", "tag": "1.2.3", "digest": "sha256:abc"},
        {"repoURL": "my-registry/sidecar", "tag": "", "digest": "sha256:def"},
    ]},
]


@pytest.fixture
async def src(promo: str, remote: Remote) -> Path:
    cfg = {"repoURL": remote.url, "checkout": [{"branch": "main", "path": "./src"}]}
    await env.run(git_clone, step(promo, "git-clone", cfg))
    return workdir(promo) / "src"


async def set_image(promo: str, images: list | None, freight=FREIGHT, path="./src/environments/uat"):
    cfg = {"path": path} if images is None else {"path": path, "images": images}
    return await env.run(kustomize_set_image, step(promo, "kustomize-set-image", cfg, freight=freight))


async def test_set_image_from_freight_keeps_comments(promo: str, src: Path) -> None:
    res = await set_image(promo, [{"image": "my-registry/my-app"}])
    assert res.outputs["commitMessage"] == (
        "Updated ./src/environments/uat to use new image\n\n- my-registry/my-app:1.2.3"
    )
    text = (src / "environments/uat/kustomization.yaml").read_text()
    assert text == KUSTOMIZATION + "- name: my-registry/my-app\n  newTag: 1.2.3\n"


async def test_set_image_from_config_updates_existing_entry(promo: str, src: Path) -> None:
    res = await set_image(
        promo,
        [
            {"image": "my-registry/other", "tag": "1.0"},
            {"image": "my-registry/my-app", "digest": "sha256:123", "newName": "mirror/my-app"},
        ],
        freight=[],
    )
    text = (src / "environments/uat/kustomization.yaml").read_text()
    assert "- name: my-registry/other  # pinned by hand\n  newTag: \"1.0\"\n" in text
    assert "- name: my-registry/my-app\n  newName: mirror/my-app\n  digest: sha256:123\n" in text
    assert text.startswith("# Kustomization for the uat environment\n")
    assert "- ../../base  # shared manifests" in text
    assert res.outputs["commitMessage"].splitlines() == [
        "Updated ./src/environments/uat to use new images",
        "",
        "- mirror/my-app@sha256:123",
        "- my-registry/other:1.0",
    ]
    # setting a tag afterwards drops the digest; "*" keeps newName
    await set_image(promo, [{"image": "my-registry/my-app", "tag": "2.0.0", "newName": "*"}], freight=[])
    text = (src / "environments/uat/kustomization.yaml").read_text()
    assert "- name: my-registry/my-app\n  newName: mirror/my-app\n  newTag: 2.0.0\n" in text
    assert "sha256:123" not in text


async def test_set_image_use_digest_and_automatic_mode(promo: str, src: Path) -> None:
    await set_image(promo, [{"image": "my-registry/my-app", "useDigest": True}])
    assert "digest: sha256:abc" in (src / "environments/uat/kustomization.yaml").read_text()
    res = await set_image(promo, None)
    text = (src / "environments/uat/kustomization.yaml").read_text()
    assert "- name: my-registry/sidecar\n  digest: sha256:def\n" in text
    assert "- my-registry/my-app:1.2.3" in res.outputs["commitMessage"]


async def test_set_image_other_file_names(promo: str, src: Path) -> None:
    d = src / "k"
    d.mkdir()
    (d / "Kustomization").write_text("resources: []\n")
    await set_image(promo, [{"image": "a/b", "tag": "1"}], path="./src/k")
    assert (d / "Kustomization").read_text() == 'resources: []\nimages:\n- name: a/b\n  newTag: "1"\n'
    (d / "kustomization.yml").write_text("resources: []\n")
    with pytest.raises(ApplicationError) as e:
        await set_image(promo, [{"image": "a/b", "tag": "1"}], path="./src/k")
    assert e.value.type == STEP_FAILED and "ambiguous" in str(e.value)


async def test_set_image_failures_name_the_field(promo: str, src: Path) -> None:
    cases = [
        ([{"image": "my-registry/unknown"}], "./src/environments/uat", "images[0].image"),
        ([{"tag": "1"}], "./src/environments/uat", "images[0].image"),
        ([{"image": "a", "tag": "1"}], "./src/nowhere", "path"),
        ([{"image": "a", "tag": "1"}], "./src/base", "path"),
    ]
    for images, path, field in cases:
        with pytest.raises(ApplicationError) as e:
            await set_image(promo, images, path=path)
        assert e.value.type == STEP_FAILED and e.value.non_retryable
        assert field in str(e.value), str(e.value)
    with pytest.raises(ApplicationError) as e:
        await set_image(promo, [{"image": "my-registry/unknown"}])
    assert "my-registry/unknown" in str(e.value)


async def test_yaml_update_keys_keep_comments(promo: str, src: Path) -> None:
    updates = [
        {"key": "image.tag", "value": "2.0.0"},
        {"key": "replicas", "value": 3},
        {"key": r"example\.com/version", "value": "v2"},
        {"key": "containers.0.image", "value": "my-app:v2"},
    ]
    res = await env.run(
        yaml_update, step(promo, "yaml-update", {"path": "./src/charts/my-app/values.yaml", "updates": updates})
    )
    assert res.outputs["commitMessage"] == (
        "Updated ./src/charts/my-app/values.yaml\n\n"
        "- image.tag: 2.0.0\n- replicas: 3\n- example\\.com/version: v2\n- containers.0.image: my-app:v2"
    )
    expected = (
        VALUES.replace("tag: 1.0.0", "tag: 2.0.0")
        .replace("replicas: 2", "replicas: 3")
        .replace("example.com/version: v1", "example.com/version: v2")
        .replace("image: my-app:v1.0", "image: my-app:v2")
    )
    assert (src / "charts/my-app/values.yaml").read_text() == expected


async def test_yaml_update_quotes_strings_that_look_like_numbers(promo: str, src: Path) -> None:
    f = src / "v.yaml"
    f.write_text("a: 'x'  # single quoted\nb: plain\nlist:\n  - 1\n  - 2\n")
    updates = [{"key": "a", "value": "y"}, {"key": "b", "value": "1.10"}, {"key": "list.1", "value": 5}]
    res = await env.run(yaml_update, step(promo, "yaml-update", {"path": "./src/v.yaml", "updates": updates}))
    assert f.read_text() == "a: 'y'  # single quoted\nb: \"1.10\"\nlist:\n  - 1\n  - 5\n"
    assert '- b: "1.10"' in res.outputs["commitMessage"]


async def test_yaml_update_failures_name_the_field(promo: str, src: Path) -> None:
    path = "./src/charts/my-app/values.yaml"
    for cfg, field in [
        ({"path": path, "updates": [{"key": "image.nope", "value": 1}]}, "updates[0].key"),
        ({"path": path, "updates": [{"key": "image", "value": 1}]}, "updates[0].key"),
        ({"path": path, "updates": [{"key": "containers.5.image", "value": 1}]}, "updates[0].key"),
        ({"path": path, "updates": [{"key": "image.tag"}]}, "updates[0].value"),
        ({"path": path, "updates": [{"key": "image.tag", "value": {"a": 1}}]}, "updates[0].value"),
        ({"path": path, "updates": []}, "updates"),
        ({"path": "./src/missing.yaml", "updates": [{"key": "a", "value": 1}]}, "path"),
    ]:
        with pytest.raises(ApplicationError) as e:
            await env.run(yaml_update, step(promo, "yaml-update", cfg))
        assert e.value.type == STEP_FAILED and field in str(e.value), (cfg, str(e.value))


async def test_yaml_steps_need_the_workdir(work_root: Path) -> None:
    with pytest.raises(ApplicationError) as e:
        await env.run(yaml_update, step("lost", "yaml-update", {"path": "a.yaml", "updates": [{"key": "a", "value": 1}]}))
    assert e.value.type == WORKDIR_LOST
    with pytest.raises(ApplicationError) as e:
        await set_image("lost", [{"image": "a", "tag": "1"}])
    assert e.value.type == WORKDIR_LOST
