"""The one dotted-key parser (activities/steps/_keys.py) and the two steps that use it:
yaml-update and json-update read every key the same way (Kargo's sjson syntax)."""

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

from activities.steps._keys import KeyPart, KeySyntaxError, key_names, split_key  # noqa: E402
from activities.steps.base import STEP_FAILED, workdir  # noqa: E402
from activities.steps.json_update import json_update  # noqa: E402
from activities.steps.yaml_update import yaml_update  # noqa: E402
from tests.gitrepos import promo, step, work_root  # noqa: E402,F401

env = ActivityEnvironment()


@pytest.mark.parametrize(
    "key, names",
    [
        ("image.tag", ["image", "tag"]),
        ("containers.0.image", ["containers", "0", "image"]),
        (r"example\.com/version", ["example.com/version"]),
        (r"a\.b.c\.d", ["a.b", "c.d"]),
        (r"a\:b", ["a:b"]),
        (r"a\\b", ["a\\b"]),
        ("a:b", ["a:b"]),  # a colon that does not start a part is an ordinary character
        ("  image.tag ", ["image", "tag"]),
        # a trailing backslash escapes nothing and is dropped, as Kargo's pkg/sjson.SplitKey
        # and tidwall/sjson both do
        ("image.tag\\", ["image", "tag"]),
        ("a\\.b\\", ["a.b"]),
    ],
)
def test_split_key_names(key: str, names: list[str]) -> None:
    assert key_names(key) == names


def test_split_key_hints() -> None:
    assert split_key("labels.:1") == [KeyPart("labels"), KeyPart("1", forced=True)]
    assert split_key(r"labels.\:1") == [KeyPart("labels"), KeyPart(":1")]
    assert split_key("a.*") == [KeyPart("a"), KeyPart("*", wildcard=True)]
    assert split_key(r"a.\*") == [KeyPart("a"), KeyPart("*")]


@pytest.mark.parametrize("key", ["", "  ", ".a", "a.", "a..b", "\\", "a.\\", "a.:"])
def test_split_key_refuses_empty_parts(key: str) -> None:
    with pytest.raises(KeySyntaxError):
        split_key(key)


# The same keys through both steps: the same part is addressed, the same keys are refused.
YAML = "image:\n  tag: 1.0.0  # the tag\nexample.com/version: v1\nlabels:\n  '1': one\n"
JSON = '{"image": {"tag": "1.0.0"}, "example.com/version": "v1", "labels": {"1": "one"}}'
ADDRESSED = [
    ("image.tag", ("image", "tag")),
    ("image.tag\\", ("image", "tag")),
    (r"example\.com/version", ("example.com/version",)),
    ("labels.:1", ("labels", "1")),
]


def _write(promotion: str, name: str, text: str) -> Path:
    p = workdir(promotion) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def _get(doc: dict, path: tuple[str, ...]) -> object:
    for part in path:
        doc = doc[part]
    return doc


@pytest.mark.parametrize("key, path", ADDRESSED)
async def test_both_steps_address_the_same_part(promo: str, key: str, path: tuple[str, ...]) -> None:
    from ruamel.yaml import YAML as Loader

    y = _write(promo, "v.yaml", YAML)
    j = _write(promo, "v.json", JSON)
    await env.run(yaml_update, step(promo, "yaml-update", {"path": "v.yaml", "updates": [{"key": key, "value": "new"}]}))
    await env.run(json_update, step(promo, "json-update", {"path": "v.json", "updates": [{"key": key, "value": "new"}]}))
    assert _get(Loader(typ="safe").load(y.read_text()), path) == "new"
    assert _get(json.loads(j.read_text()), path) == "new"
    # nothing else was added or changed
    assert len(Loader(typ="safe").load(y.read_text())) == 3 and len(json.loads(j.read_text())) == 3


@pytest.mark.parametrize("key", ["image..tag", ".image", "image.", "\\", "   "])
async def test_both_steps_refuse_the_same_keys(promo: str, key: str) -> None:
    _write(promo, "v.yaml", YAML)
    _write(promo, "v.json", JSON)
    for fn, uses, path in [(yaml_update, "yaml-update", "v.yaml"), (json_update, "json-update", "v.json")]:
        with pytest.raises(ApplicationError) as e:
            await env.run(fn, step(promo, uses, {"path": path, "updates": [{"key": key, "value": "x"}]}))
        assert e.value.type == STEP_FAILED and "updates[0].key" in str(e.value), (uses, key, str(e.value))
