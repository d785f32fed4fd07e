"""json-update, yaml-merge, yaml-parse and json-parse on real files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.steps._json_edit import set_value  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.json_parse import json_parse  # noqa: E402
from activities.steps.json_update import json_update  # noqa: E402
from activities.steps.yaml_merge import yaml_merge  # noqa: E402
from activities.steps.yaml_parse import yaml_parse  # noqa: E402
from tests.gitrepos import promo, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()

CONFIG_JSON = """{
    "image": {
        "repository": "my-registry/my-app",
        "tag": "1.0.0"
    },
    "replicas": 2,
    "ports": [80, 443],
    "example.com/version": "v1"
}
"""


async def run(fn, promotion: str, uses: str, config: dict):
    return await env.run(fn, step(promotion, uses, config))


async def fails(fn, promotion: str, uses: str, config: dict, field: str) -> str:
    with pytest.raises(ApplicationError) as e:
        await run(fn, promotion, uses, config)
    assert e.value.type == STEP_FAILED and e.value.non_retryable, str(e.value)
    assert field in str(e.value), str(e.value)
    return str(e.value)


def write(promotion: str, rel: str, text: str) -> Path:
    p = workdir(promotion) / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


# ---------------------------------------------------------------- json-update


def test_set_value_keeps_layout() -> None:
    assert set_value('{"a": 1, "b": 2}', "b", 3) == '{"a": 1, "b": 3}'
    assert set_value('{"a": 1, "b": 2}', "c", "x") == '{"a": 1, "b": 2, "c": "x"}'
    assert set_value('{"a":1}', "b.c", True) == '{"a":1,"b":{"c":true}}'
    assert set_value('{"l": [1, 2]}', "l.-1", 3) == '{"l": [1, 2, 3]}'
    assert set_value('{"l": [1, 2]}', "l.0", 0) == '{"l": [0, 2]}'
    assert set_value('{"l": []}', "l.2", "z") == '{"l": [null,null,"z"]}'
    assert set_value('{"m": {}}', "m.:1", "one") == '{"m": {"1":"one"}}'
    assert set_value("", "a.b", 1) == '{"a":{"b":1}}'


async def test_json_update_sets_and_creates_keys(promo: str) -> None:
    f = write(promo, "src/config.json", CONFIG_JSON)
    updates = [
        {"key": "image.tag", "value": "2.0.0"},
        {"key": "replicas", "value": 3},
        {"key": r"example\.com/version", "value": "v2"},
        {"key": "ports.1", "value": 8443},
        {"key": "image.pullPolicy", "value": "Always"},
        {"key": "debug", "value": False},
    ]
    cfg = {"path": "./src/config.json", "updates": updates}
    res = await run(json_update, promo, "json-update", cfg)
    assert res.outputs["commitMessage"] == (
        "Updated ./src/config.json\n\n"
        '- image.tag: "2.0.0"\n- replicas: 3\n- example\\.com/version: "v2"\n- ports.1: 8443\n'
        '- image.pullPolicy: "Always"\n- debug: false'
    )
    expected = """{
    "image": {
        "repository": "my-registry/my-app",
        "tag": "2.0.0",
        "pullPolicy": "Always"
    },
    "replicas": 3,
    "ports": [80, 8443],
    "example.com/version": "v2",
    "debug": false
}
"""
    assert f.read_text() == expected
    again = await run(json_update, promo, "json-update", cfg)
    assert f.read_text() == expected and again.outputs == res.outputs


async def test_json_update_failures(promo: str) -> None:
    write(promo, "c.json", CONFIG_JSON)
    write(promo, "bad.json", "{not json")
    cases = [
        ({"updates": [{"key": "a", "value": 1}]}, "path"),
        ({"path": "c.json"}, "updates"),
        ({"path": "c.json", "updates": []}, "updates"),
        ({"path": "missing.json", "updates": [{"key": "a", "value": 1}]}, "path"),
        ({"path": "../c.json", "updates": [{"key": "a", "value": 1}]}, "path"),
        ({"path": "bad.json", "updates": [{"key": "a", "value": 1}]}, "path"),
        ({"path": "c.json", "updates": [{"value": 1}]}, "updates[0].key"),
        ({"path": "c.json", "updates": [{"key": "a"}]}, "updates[0].value"),
        ({"path": "c.json", "updates": [{"key": "a", "value": None}]}, "updates[0].value"),
        ({"path": "c.json", "updates": [{"key": "a", "value": {"x": 1}}]}, "updates[0].value"),
        ({"path": "c.json", "updates": [{"key": "a", "value": 1}, {"key": "ports.x", "value": 1}]}, "updates[1].key"),
        ({"path": "c.json", "updates": [{"key": "a.*", "value": 1}]}, "updates[0].key"),
    ]
    for cfg, field in cases:
        await fails(json_update, promo, "json-update", cfg, field)
    assert (workdir(promo) / "c.json").read_text() == CONFIG_JSON  # a failed step writes nothing


# ---------------------------------------------------------------- yaml-merge

BASE = """\
# base values
character:
  name: Vader   # the villain
  ability: Force
  affiliation: Empire
vehicles:
  - Star Destroyer
  - TIE Fighter
"""
OVERLAY = """\
character:
  name: Luke
  affiliation: Rebel Alliance
  siblings: [Leia]
vehicles:
  - Millennium Falcon
"""


async def test_yaml_merge_later_files_win(promo: str) -> None:
    write(promo, "src/base.yaml", BASE)
    write(promo, "src/overlay.yaml", OVERLAY)
    write(promo, "src/empty.yaml", "")
    write(promo, "src/drop.yaml", "character:\n  ability: null\n")
    cfg = {
        "inFiles": ["./src/empty.yaml", "./src/base.yaml", "./src/missing.yaml", "./src/overlay.yaml", "./src/drop.yaml"],
        "outFile": "./out/values.yaml",
        "ignoreMissingFiles": True,
    }
    res = await run(yaml_merge, promo, "yaml-merge", cfg)
    assert res.outputs["commitMessage"] == (
        "Merged 4 YAML files to ./out/values.yaml\n"
        "- ./src/empty.yaml\n- ./src/base.yaml\n- ./src/overlay.yaml\n- ./src/drop.yaml"
    )
    out = workdir(promo) / "out/values.yaml"
    expected = """\
# base values
character:
  name: Luke    # the villain
  affiliation: Rebel Alliance
  siblings: [Leia]
vehicles:
  - Millennium Falcon
"""
    assert out.read_text() == expected
    assert (await run(yaml_merge, promo, "yaml-merge", cfg)).outputs == res.outputs
    assert out.read_text() == expected
    one = await run(yaml_merge, promo, "yaml-merge", {"inFiles": ["./src/base.yaml"], "outFile": "./out/one.yaml"})
    assert one.outputs == {"commitMessage": "Wrote ./src/base.yaml to ./out/one.yaml"}
    assert (workdir(promo) / "out/one.yaml").read_text() == BASE
    none = await run(yaml_merge, promo, "yaml-merge", {**cfg, "inFiles": ["./src/missing.yaml"], "outFile": "n.yaml"})
    assert none.outputs == {} and (workdir(promo) / "n.yaml").read_text() == ""


async def test_yaml_merge_failures(promo: str) -> None:
    write(promo, "a.yaml", "a: 1\n")
    write(promo, "bad.yaml", "a: [1\n")
    (workdir(promo) / "dir").mkdir()
    cases = [
        ({"outFile": "o.yaml"}, "inFiles"),
        ({"inFiles": [], "outFile": "o.yaml"}, "inFiles"),
        ({"inFiles": ["a.yaml"]}, "outFile"),
        ({"inFiles": ["a.yaml", "missing.yaml"], "outFile": "o.yaml"}, "inFiles[1]"),
        ({"inFiles": ["a.yaml", "bad.yaml"], "outFile": "o.yaml"}, "inFiles[1]"),
        ({"inFiles": ["../a.yaml"], "outFile": "o.yaml"}, "inFiles[0]"),
        ({"inFiles": ["a.yaml"], "outFile": "../o.yaml"}, "outFile"),
        ({"inFiles": ["a.yaml"], "outFile": "dir"}, "outFile"),
        ({"inFiles": ["dir"], "outFile": "o.yaml"}, "inFiles[0]"),
        ({"inFiles": ["a.yaml"], "outFile": "o.yaml", "ignoreMissingFiles": "yes"}, "ignoreMissingFiles"),
    ]
    for cfg, field in cases:
        await fails(yaml_merge, promo, "yaml-merge", cfg, field)
    assert not (workdir(promo) / "o.yaml").exists()


# ---------------------------------------------------------------- yaml-parse / json-parse

VALUES = """\
image:
  repository: my-registry/my-app
  tag: 1.2.3
replicas: 2
apps:
  uat: {replicas: 3, url: https://uat.example.com}
released: 2024-05-01
"""


async def test_yaml_parse_outputs(promo: str) -> None:
    write(promo, "src/values.yaml", VALUES)
    outputs = [
        {"name": "tag", "fromExpression": "image.tag"},
        {"name": "image", "fromExpression": 'image.repository + ":" + image.tag'},
        {"name": "next", "fromExpression": "replicas + 1"},
        {"name": "uat", "fromExpression": 'apps["uat"]'},
        {"name": "released", "fromExpression": "released"},
        {"name": "missing", "fromExpression": "image?.digest"},
    ]
    cfg = {"path": "./src/values.yaml", "outputs": outputs}
    res = await run(yaml_parse, promo, "yaml-parse", cfg)
    assert res.outputs == {
        "tag": "1.2.3",
        "image": "my-registry/my-app:1.2.3",
        "next": 3,
        "uat": {"replicas": 3, "url": "https://uat.example.com"},
        "released": "2024-05-01",
        "missing": None,
    }
    json.dumps(res.outputs)  # plain JSON types only
    assert (await run(yaml_parse, promo, "yaml-parse", cfg)).outputs == res.outputs


async def test_json_parse_outputs(promo: str) -> None:
    write(promo, "src/config.json", CONFIG_JSON)
    outputs = [
        {"name": "tag", "fromExpression": "image.tag"},
        {"name": "ports", "fromExpression": "ports"},
        {"name": "https", "fromExpression": "443 in ports"},
    ]
    res = await run(json_parse, promo, "json-parse", {"path": "./src/config.json", "outputs": outputs})
    assert res.outputs == {"tag": "1.0.0", "ports": [80, 443], "https": True}


async def test_parse_failures(promo: str) -> None:
    write(promo, "v.yaml", VALUES)
    write(promo, "list.yaml", "- a\n- b\n")
    write(promo, "empty.yaml", "")
    write(promo, "bad.yaml", "a: [1\n")
    write(promo, "c.json", CONFIG_JSON)
    write(promo, "bad.json", "{")
    ok = [{"name": "x", "fromExpression": "replicas"}]
    cases = [
        (yaml_parse, {"outputs": ok}, "path"),
        (yaml_parse, {"path": "v.yaml"}, "outputs"),
        (yaml_parse, {"path": "v.yaml", "outputs": []}, "outputs"),
        (yaml_parse, {"path": "missing.yaml", "outputs": ok}, "path"),
        (yaml_parse, {"path": "../v.yaml", "outputs": ok}, "path"),
        (yaml_parse, {"path": "empty.yaml", "outputs": ok}, "path"),
        (yaml_parse, {"path": "bad.yaml", "outputs": ok}, "path"),
        (yaml_parse, {"path": "list.yaml", "outputs": ok}, "path"),
        (yaml_parse, {"path": "v.yaml", "outputs": [{"fromExpression": "replicas"}]}, "outputs[0].name"),
        (yaml_parse, {"path": "v.yaml", "outputs": [{"name": "x"}]}, "outputs[0].fromExpression"),
        (yaml_parse, {"path": "v.yaml", "outputs": ok + [{"name": "y", "fromExpression": "nope.x"}]}, "outputs[1].fromExpression"),
        (yaml_parse, {"path": "v.yaml", "outputs": [{"name": "y", "fromExpression": "1 +"}]}, "outputs[0].fromExpression"),
        (json_parse, {"path": "bad.json", "outputs": ok}, "path"),
        (json_parse, {"path": "missing.json", "outputs": ok}, "path"),
        (json_parse, {"path": "c.json", "outputs": [{"name": "y", "fromExpression": "image.tag +"}]}, "outputs[0].fromExpression"),
    ]
    for fn, cfg, field in cases:
        await fails(fn, promo, fn.__name__.replace("_", "-"), cfg, field)
