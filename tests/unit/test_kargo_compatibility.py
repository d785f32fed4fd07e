"""docs/kargo-compatibility.md is the rendering of the code's registries (regenerate it with
``PYTHONPATH=$PWD python -m scripts.kargo_compatibility``), and the rendering says what the
code does."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

import typer.main

from client.cli import app
from client.kargo_verbs import KARGO_VERBS
from contracts.step_configs import STEP_CONFIGS
from contracts.step_configs.base import StepConfig, not_supported_yet, unsupported_fields
from pipeline.compatibility import DIFFERS, ENTERPRISE, NOT_SUPPORTED, NOT_YET, SUPPORTED, function_row, render, step_row
from pipeline.expressions.functions import KARGO_FUNCTIONS, KNOWN_FUNCTIONS
from pipeline.manifests.steps import ENTERPRISE_STEPS, OSS_STEPS

DOC = Path(__file__).resolve().parents[2] / "docs" / "kargo-compatibility.md"


def _rows(text: str, section: str) -> dict[str, str]:
    """First cell (unquoted) -> the whole row, for the table under ``## section``."""
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        if line.startswith("| ") and not line.startswith("| step |") and not line.startswith("| function |"):
            rows[line.split("|")[1].strip().strip("`")] = line
    return rows


def test_the_committed_table_is_the_rendering_of_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == render(KARGO_VERBS), (
        "docs/kargo-compatibility.md is stale: run PYTHONPATH=$PWD python -m scripts.kargo_compatibility"
    )


def test_every_kargo_step_has_a_row_with_its_status() -> None:
    steps = _rows(render(KARGO_VERBS), "Steps")
    assert set(steps) == OSS_STEPS | ENTERPRISE_STEPS | set(STEP_CONFIGS)
    for name in ENTERPRISE_STEPS:
        assert f"| {ENTERPRISE} |" in steps[name]
    for name in OSS_STEPS - set(STEP_CONFIGS):
        assert f"| {NOT_YET} |" in steps[name]
    for name in STEP_CONFIGS:
        assert f"| {SUPPORTED} |" in steps[name] or f"| {DIFFERS} |" in steps[name]


def test_every_runnable_step_lists_its_fields() -> None:
    fields = _rows(render(KARGO_VERBS), "Step fields")
    assert set(fields) == set(STEP_CONFIGS)
    assert "`checkout[].path`" in fields["git-clone"]  # nested fields, by Kargo's name
    assert "`repoURL`" in fields["git-clone"]


def test_refused_fields_are_read_from_the_models_and_shown_as_refused() -> None:
    found = 0
    for name, model in STEP_CONFIGS.items():
        row = step_row(name)
        for path in row.refused:
            found += 1
            assert path not in row.fields
            assert row.status == DIFFERS
            assert f"`{path}`" in _rows(render(KARGO_VERBS), "Step fields")[name].split("|")[3]
    # the fields #15 found ignored are refused until they are built, then supported
    for path in ("insecureSkipTLSVerify", "blobless", "recurseSubmodules", "checkout[].sparse", "author.signingKey"):
        assert path in step_row("git-clone").refused + step_row("git-clone").fields
    assert found == sum(len(step_row(n).refused) for n in STEP_CONFIGS)


def test_not_supported_yet_records_the_fields_it_refuses() -> None:
    class Example(StepConfig):
        kept: bool = False
        later_one: bool = False
        later_two: str | None = Field(default=None, alias="laterTWO")

        not_yet = not_supported_yet("later_one", "later_two")

    assert unsupported_fields(Example) == ["laterOne", "laterTWO"]
    assert unsupported_fields(STEP_CONFIGS["copy"]) == []


def test_gantry_additions_and_differences_come_from_the_models() -> None:
    commit = step_row("git-commit")
    assert any(a.startswith("`messageFromSteps`") for a in commit.added)
    assert "messageFromSteps" not in commit.fields
    image = step_row("kustomize-set-image")
    assert any(a.startswith("`images[].useDigest`") for a in image.added)
    assert any(d.startswith("`images[]`:") for d in image.differences)  # a nested model's difference
    assert step_row("git-open-pr").status == DIFFERS


def test_every_kargo_function_is_listed_with_where_it_runs() -> None:
    functions = _rows(render(KARGO_VERBS), "Expression functions")
    assert KARGO_FUNCTIONS <= set(functions)
    everywhere = set().union(*KNOWN_FUNCTIONS.values())
    for name in functions:
        row = function_row(name)
        assert (row.status == NOT_SUPPORTED) == (name not in everywhere)
    assert function_row("timezone").status == NOT_SUPPORTED
    assert function_row("secret").places == ["promotion"]
    assert function_row("now").status == DIFFERS


def test_kinds_state_their_refusals() -> None:
    text = render(KARGO_VERBS)
    kinds = text.split("## Kinds\n", 1)[1]
    assert "`promotionPolicies[].autoRollback` is refused" in kinds
    assert "generic `subscription:` entries are refused" in kinds
    assert "`MatchUpstream`" in kinds
    assert "| Promotion | — | not applied |" in kinds


def test_a_provider_field_states_forgejo_unless_refused() -> None:
    for name in ("git-open-pr", "git-wait-for-pr", "git-merge-pr"):
        assert any("forgejo" in d for d in step_row(name).differences), name
    push = step_row("git-push")
    assert ("provider" in push.refused) != any("forgejo" in d for d in push.differences)


def _commands(group: object, prefix: str = "") -> set[str]:
    subs = getattr(group, "commands", None)
    if not subs:
        return {prefix}
    return set().union(*(_commands(sub, f"{prefix} {name}".strip()) for name, sub in subs.items()))


def test_every_gantry_command_the_cli_table_names_exists() -> None:
    commands = _commands(typer.main.get_command(app))
    for kargo, (gantry, _) in KARGO_VERBS.items():
        if gantry:
            words = gantry.removeprefix("gantry ").split(" -")[0]
            assert words in commands, f"{kargo}: {gantry} is not a gantry command"
    assert "| `kargo delete` | `gantry delete` |" in render(KARGO_VERBS)


def test_a_refused_nested_field_is_listed_once_without_its_children(monkeypatch) -> None:
    class Inner(StepConfig):
        name: str

    class Outer(StepConfig):
        path: str
        extra: list[Inner] | None = None

        not_yet = not_supported_yet("extra")

    monkeypatch.setitem(STEP_CONFIGS, "x-example", Outer)
    row = step_row("x-example")
    assert row.refused == ["extra"]
    assert row.fields == ["path"]
    assert row.status == "Gantry's own step"
