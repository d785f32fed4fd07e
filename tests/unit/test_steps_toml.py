"""toml-parse and toml-update on files of a promotion's working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps.base import STEP_FAILED, workdir
from activities.steps.toml_parse import toml_parse
from activities.steps.toml_update import toml_update
from tests.gitrepos import promo, step, work_root  # noqa: F401

env = ActivityEnvironment()

CONFIG = """\
# settings of the app
title = "demo" # shown on the home page

[image]
repository = 'my/app'   # literal string
tag = "v1.2.3"
replicas = 2

[labels]
"example.com/version" = "1.0.0"

[rbac]
installClusterRoles = true
values = [1, 2, 3] # kept

[[servers]]
host = "a.example.com"
port = 8080

[[servers]]
host = "b.example.com"
port = 8081

[dates]
released = 2024-05-01T10:00:00Z
day = 2024-05-01
"""


@pytest.fixture
def settings(promo: str) -> Path:
    path = workdir(promo) / "src" / "settings.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG)
    return path


async def parse(promo: str, outputs: list[dict], path: str = "src/settings.toml") -> dict:
    result = await env.run(toml_parse, step(promo, "toml-parse", {"path": path, "outputs": outputs}))
    return result.outputs


async def update(promo: str, updates: list[dict], path: str = "src/settings.toml"):
    return await env.run(toml_update, step(promo, "toml-update", {"path": path, "updates": updates}))


async def failure(coro) -> str:
    with pytest.raises(ApplicationError) as info:
        await coro
    assert info.value.type == STEP_FAILED and info.value.non_retryable
    return str(info.value)


async def test_parse_evaluates_expressions_over_the_document(promo: str, settings: Path) -> None:
    outputs = await parse(promo, [
        {"name": "tag", "fromExpression": "image.tag"},
        {"name": "replicas", "fromExpression": "image.replicas * 2"},
        {"name": "cluster", "fromExpression": "rbac.installClusterRoles"},
        {"name": "second", "fromExpression": "servers[1].host"},
        {"name": "ports", "fromExpression": "map(servers, .port)"},
        {"name": "version", "fromExpression": 'labels["example.com/version"]'},
        {"name": "released", "fromExpression": "dates.released"},
        {"name": "day", "fromExpression": "dates.day"},
    ])
    assert outputs == {
        "tag": "v1.2.3", "replicas": 4, "cluster": True, "second": "b.example.com", "ports": [8080, 8081],
        "version": "1.0.0", "released": "2024-05-01T10:00:00Z", "day": "2024-05-01",
    }


async def test_parse_failures_name_the_field(promo: str, settings: Path) -> None:
    assert "config field 'path': file 'src/missing.toml' does not exist" in await failure(
        parse(promo, [{"name": "a", "fromExpression": "title"}], path="src/missing.toml")
    )
    assert "config field 'outputs[0].fromExpression'" in await failure(
        parse(promo, [{"name": "a", "fromExpression": "image.tag +"}])
    )
    assert "unknown field 'fromExpresion'; did you mean 'fromExpression'?" in await failure(
        parse(promo, [{"name": "a", "fromExpresion": "title"}])
    )
    assert "config field 'outputs': List should have at least 1 item" in await failure(parse(promo, []))
    (settings.parent / "bad.toml").write_text("a = = 1\n")
    assert "'src/bad.toml' is not valid TOML" in await failure(
        parse(promo, [{"name": "a", "fromExpression": "a"}], path="src/bad.toml")
    )
    (settings.parent / "empty.toml").write_text("\n")
    assert "'src/empty.toml' is empty" in await failure(
        parse(promo, [{"name": "a", "fromExpression": "a"}], path="src/empty.toml")
    )


async def test_update_keeps_comments_order_and_formatting(promo: str, settings: Path) -> None:
    result = await update(promo, [
        {"key": "image.tag", "value": "v2.0.0"},
        {"key": "image.replicas", "value": 3},
        {"key": "title", "value": "prod"},
        {"key": "rbac.values.1", "value": 20},
        {"key": "servers.1.port", "value": 9090},
        {"key": r"labels.example\.com/version", "value": "2.0.0"},
        {"key": "rbac.installClusterRoles", "value": False},
    ])
    expected = (
        CONFIG.replace('tag = "v1.2.3"', 'tag = "v2.0.0"')
        .replace("replicas = 2", "replicas = 3")
        .replace('title = "demo"', 'title = "prod"')
        .replace("values = [1, 2, 3]", "values = [1, 20, 3]")
        .replace("port = 8081", "port = 9090")
        .replace('"example.com/version" = "1.0.0"', '"example.com/version" = "2.0.0"')
        .replace("installClusterRoles = true", "installClusterRoles = false")
    )
    assert settings.read_text() == expected
    assert result.outputs["commitMessage"] == (
        "Updated src/settings.toml\n\n"
        '- image.tag: "v2.0.0"\n- image.replicas: 3\n- title: "prod"\n- rbac.values.1: 20\n'
        '- servers.1.port: 9090\n- labels.example\\.com/version: "2.0.0"\n- rbac.installClusterRoles: false'
    )


async def test_update_refuses_what_kargo_refuses(promo: str, settings: Path) -> None:
    cases = [
        ({"key": "image.tga", "value": "x"}, "key 'image.tga' not found in the file (no 'image.tga')"),
        ({"key": "image", "value": "x"}, "'image' holds a table or array; only scalars can be updated"),
        ({"key": "rbac.values.7", "value": 1}, "'rbac.values.7' is not an element of the array"),
        ({"key": "title.x", "value": 1}, "'title.x' is below a scalar"),
        ({"key": "image.tag", "value": {"a": 1}}, "config field 'updates[0].value' must be a string, number or boolean"),
        ({"key": "image.tag", "value": None}, "TOML has no null"),
        ({"key": "image.tag"}, "config field 'updates[0].value': required, but missing"),
        ({"key": "image..tag", "value": 1}, "config field 'updates[0].key'"),
    ]
    for update_, message in cases:
        assert message in await failure(update(promo, [update_]))
    assert settings.read_text() == CONFIG  # nothing written by a failed update


async def test_update_stays_in_the_working_directory(promo: str, settings: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text('a = "1"\n')
    (settings.parent / "link.toml").symlink_to(outside)
    assert "points outside the working directory" in await failure(
        update(promo, [{"key": "a", "value": "2"}], path="src/link.toml")
    )
    assert "leaves the working directory" in await failure(
        update(promo, [{"key": "a", "value": "2"}], path="../outside.toml")
    )
    assert outside.read_text() == 'a = "1"\n'


async def test_update_of_dotted_keys_and_inline_tables_keeps_their_form(promo: str) -> None:
    path = workdir(promo) / "dotted.toml"
    path.write_text('app.image.tag = "1.0" # dotted\nservers = [{ host = "a", port = 1 }]\n')
    await update(promo, [{"key": "app.image.tag", "value": "2.0"}, {"key": "servers.0.port", "value": 2}], path="dotted.toml")
    assert path.read_text() == 'app.image.tag = "2.0" # dotted\nservers = [{ host = "a", port = 2 }]\n'
