"""Bad data costs little: YAML alias bombs and deep nesting, and deeply nested JSON, are refused
quickly with a clear error wherever Gantry reads them (pipeline/yamlsafe.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from ruamel.yaml.error import YAMLError
from temporalio.exceptions import ApplicationError
from typer.testing import CliRunner

from activities.discovery.charts import parse_index
from activities.steps.json_parse import json_parse
from activities.steps.yaml_parse import yaml_parse
from client.commands.validate import register
from pipeline import yamlsafe
from tests.gitrepos import promo, work_root  # noqa: F401
from tests.unit.test_steps_data import fails, run, write
from tests.unit.test_steps_http import Reply, Server, http, server  # noqa: F401


def bomb(levels: int = 9) -> str:
    """Billion laughs: 9**levels nodes once expanded, about 40 bytes a level."""
    lines = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    prev = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


BRACKETS = "[" * 5000 + "]" * 5000
BRACES = "{" * 5000
BLOCK = "".join("  " * i + f"k{i}:\n" for i in range(1000)) + "  " * 1000 + "leaf\n"


@pytest.mark.parametrize("typ", ["safe", "rt"])
def test_alias_bomb_refused_before_construction(typ: str) -> None:
    text = bomb()
    assert len(text) < 400
    started = time.perf_counter()
    with pytest.raises(yamlsafe.YAMLLimitError) as e:
        yamlsafe.load(text, typ)  # type: ignore[arg-type]
    assert time.perf_counter() - started < 0.5
    assert "aliases expand to more than 100,000 nodes" in str(e.value)
    assert isinstance(e.value, YAMLError) and e.value.problem_mark is not None


@pytest.mark.parametrize("text", [BRACKETS, BRACES, BLOCK], ids=["brackets", "braces", "block"])
@pytest.mark.parametrize("typ", ["safe", "rt"])
def test_deep_nesting_is_a_clear_error(text: str, typ: str) -> None:
    with pytest.raises(yamlsafe.YAMLLimitError) as e:
        yamlsafe.load_all(text, typ)  # type: ignore[arg-type]
    assert f"nesting is deeper than {yamlsafe.MAX_DEPTH} levels" in str(e.value)
    assert e.value.problem_mark is not None and "line" in str(e.value)


def test_ordinary_aliases_and_nesting_still_load() -> None:
    text = "base: &b {cpu: 1, mem: 2}\nx: *b\ny: {<<: *b, cpu: 3}\nz: [*b, *b]\n"
    assert yamlsafe.load(text) == {
        "base": {"cpu": 1, "mem": 2},
        "x": {"cpu": 1, "mem": 2},
        "y": {"cpu": 3, "mem": 2},
        "z": [{"cpu": 1, "mem": 2}, {"cpu": 1, "mem": 2}],
    }
    deep = "[" * yamlsafe.MAX_DEPTH + "]" * yamlsafe.MAX_DEPTH
    value = yamlsafe.load(deep)
    for _ in range(yamlsafe.MAX_DEPTH - 1):
        value = value[0]
    assert value == []
    # a bomb one level short of the bound (9**5 = 59,049 nodes) is data, not an attack
    assert len(yamlsafe.load(bomb(5))["e"]) == 9
    assert [d["i"] for d in yamlsafe.load_all("i: 1\n---\ni: 2\n")] == [1, 2]


def test_recursive_alias_refused() -> None:
    with pytest.raises(yamlsafe.YAMLLimitError, match="contains it"):
        yamlsafe.load("a: &a [x, *a]\n")


def test_json_depth() -> None:
    with pytest.raises(json.JSONDecodeError) as e:
        yamlsafe.json_loads(BRACKETS)
    assert isinstance(e.value, yamlsafe.JSONLimitError)
    assert "JSON nesting is deeper than 200 levels: line 1 column 201" in str(e.value)
    with pytest.raises(yamlsafe.JSONLimitError):
        yamlsafe.json_loads(("[" * 300 + "]" * 300).encode())
    assert yamlsafe.json_loads('{"a": "[[[[[[", "b": [[1]]}') == {"a": "[[[[[[", "b": [[1]]}
    many = json.dumps([[i] for i in range(1000)])  # many brackets, shallow
    assert len(yamlsafe.json_loads(many)) == 1000


# --- through the CLI, the steps and discovery --------------------------------------------------


def cli() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.callback()
    def main() -> None:
        pass

    return a


@pytest.mark.parametrize(
    "name,text,said",
    [
        ("bomb.yaml", bomb(10).ljust(1000, "\n"), "bomb.yaml:6: YAML aliases expand to more than 100,000 nodes"),
        ("deep.yaml", BRACKETS, "deep.yaml:1: YAML nesting is deeper than 200 levels"),
        ("braces.yaml", "a: " + BRACES, "braces.yaml:1: YAML nesting is deeper than 200 levels"),
        ("block.yaml", BLOCK, "block.yaml:200: YAML nesting is deeper than 200 levels"),
    ],
)
def test_validate_refuses_quickly(tmp_path: Path, name: str, text: str, said: str) -> None:
    (tmp_path / name).write_text(text)
    started = time.perf_counter()
    res = CliRunner().invoke(cli(), ["validate", "-f", str(tmp_path / name)])
    elapsed = time.perf_counter() - started
    assert res.exit_code == 1, res.output
    assert said in res.output, res.output
    assert "Traceback" not in res.output and len(res.output.splitlines()) <= 2
    assert elapsed < 1.0, elapsed


async def test_yaml_parse_step_refuses_a_bomb(promo: str) -> None:  # noqa: F811
    write(promo, "bomb.yaml", bomb())
    write(promo, "deep.yaml", BRACKETS)
    write(promo, "deep.json", BRACKETS)
    ok = [{"name": "x", "fromExpression": "a"}]
    said = await fails(yaml_parse, promo, "yaml-parse", {"path": "bomb.yaml", "outputs": ok}, "path")
    assert "is not valid YAML: YAML aliases expand to more than 100,000 nodes" in said
    said = await fails(yaml_parse, promo, "yaml-parse", {"path": "deep.yaml", "outputs": ok}, "path")
    assert "nesting is deeper than 200 levels" in said
    said = await fails(json_parse, promo, "json-parse", {"path": "deep.json", "outputs": ok}, "path")
    assert "JSON nesting is deeper than 200 levels" in said
    write(promo, "fine.yaml", "a: &x [1]\nb: *x\n")
    assert (await run(yaml_parse, promo, "yaml-parse", {"path": "fine.yaml", "outputs": ok})).outputs == {"x": [1]}


async def test_http_step_refuses_a_yaml_bomb_and_deep_json(server: Server) -> None:  # noqa: F811
    server.routes["/bomb"] = Reply(200, bomb(), {"Content-Type": "application/yaml"})
    server.routes["/deep"] = Reply(200, BRACKETS, {"Content-Type": "application/json"})
    out = [{"name": "b", "fromExpression": "response.body"}]
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/bomb", "outputs": out})
    assert "failed to parse YAML response: YAML aliases expand to more than 100,000 nodes" in e.value.message
    with pytest.raises(ApplicationError) as e:
        await http({"url": server.url + "/deep", "outputs": out})
    assert "failed to parse JSON response: JSON nesting is deeper than 200 levels" in e.value.message


def test_helm_index_bomb_refused() -> None:
    with pytest.raises(yamlsafe.YAMLLimitError):
        parse_index(("apiVersion: v1\n" + bomb()).encode())
    with pytest.raises(yamlsafe.JSONLimitError):
        parse_index(BRACKETS.encode())
    assert parse_index(b"apiVersion: v1\nentries: {}\n") == {"apiVersion": "v1", "entries": {}}
