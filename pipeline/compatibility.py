"""docs/kargo-compatibility.md, rendered from the code's own registries: the step names
(pipeline.manifests.steps), the step config models and what they refuse, add or do
differently (contracts.step_configs), the expression functions (pipeline.expressions.functions)
the document kinds (pipeline.manifests.models), and the CLI verbs (client.kargo_verbs, passed in
by the caller as pipeline does not import the client).

The table is never edited by hand: a test compares the committed file with :func:`render`,
so lifting a refusal or adding a step shows up as a diff to regenerate with
``python -m scripts.kargo_compatibility``. Pure: no I/O.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping

from pydantic import BaseModel

from contracts.metrics import PROVIDERS
from contracts.step_configs import STEP_CONFIGS
from contracts.step_configs._types import PROVIDER_DIFFERENCE, Provider
from contracts.step_configs.base import StepConfig, unsupported_fields
from pipeline.expressions.functions import (
    EXPR_LANG_FUNCTIONS,
    FUNCTION_DIFFERENCES,
    KARGO_FUNCTIONS,
    KNOWN_FUNCTIONS,
)
from pipeline.manifests.models import (
    CLUSTER_SCOPED,
    KARGO_KINDS_NOT_APPLIED,
    MODELS,
    AutoPromotionOptions,
    ChartSubscription,
    GitSubscription,
    ImageSubscription,
    MetricProvider,
    RepoSubscription,
    StageSelector,
)
from pipeline.manifests.steps import ENTERPRISE_STEPS, OSS_STEPS

SUPPORTED = "supported"
DIFFERS = "supported, with differences"
NOT_YET = "refused: not yet"
ENTERPRISE = "refused: Kargo Enterprise"
NOT_SUPPORTED = "not supported"


def _models_in(annotation: typing.Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """(model, inside a list) for each model in ``X``, ``X | None``, ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
        return
    is_list = typing.get_origin(annotation) is list
    for arg in typing.get_args(annotation):
        for model, inner_list in _models_in(arg):
            yield model, is_list or inner_list


def config_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, type[BaseModel], str]]:
    """(path such as ``checkout[].sparse``, the model owning it, its Kargo name) of every field,
    nested models included; a model taking any field (compose-output) gives ``<any key>``."""
    if model.model_config.get("extra") == "allow":
        yield f"{prefix}<any key>", model, "<any key>"
    for name, field in model.model_fields.items():
        alias = field.alias or name
        path = f"{prefix}{alias}"
        yield path, model, alias
        for inner, is_list in _models_in(field.annotation):
            yield from config_fields(inner, f"{path}[]." if is_list else f"{path}.")


def _is_provider(model: type[BaseModel], alias: str) -> bool:
    """Whether ``model``'s field ``alias`` is typed :data:`Provider` (Kargo's names and forgejo)."""
    field = next((f for n, f in model.model_fields.items() if (f.alias or n) == alias), None)
    return field is not None and (field.annotation == Provider or Provider in typing.get_args(field.annotation))


class StepRow(typing.NamedTuple):
    """One Kargo step: its status, its config fields by status, and its differences."""

    name: str
    status: str
    fields: list[str]
    refused: list[str]
    added: list[str]
    differences: list[str]


def step_row(name: str) -> StepRow:
    """What Gantry does with the Kargo step ``name``."""
    model: type[StepConfig] | None = STEP_CONFIGS.get(name)
    if model is None:
        return StepRow(name, ENTERPRISE if name in ENTERPRISE_STEPS else NOT_YET, [], [], [], [])
    fields, refused, added, differences = [], [], [], list(model.KARGO_DIFFERENCES)
    seen: set[type[BaseModel]] = {model}
    for path, owner, alias in config_fields(model):
        if any(path.startswith((f"{r}.", f"{r}[].")) for r in refused):
            continue  # inside a refused field
        if alias in unsupported_fields(owner):
            refused.append(path)
        elif alias in getattr(owner, "GANTRY_FIELDS", {}):
            added.append(f"`{path}`: {owner.GANTRY_FIELDS[alias]}")  # type: ignore[attr-defined]
        else:
            fields.append(path)
            if _is_provider(owner, alias) and PROVIDER_DIFFERENCE not in differences:
                differences.append(PROVIDER_DIFFERENCE)
        if owner not in seen:
            seen.add(owner)
            differences += [f"`{path.rsplit('.', 1)[0]}`: {d}" for d in getattr(owner, "KARGO_DIFFERENCES", ())]
    status = DIFFERS if refused or differences else SUPPORTED
    if name not in OSS_STEPS:
        status = "Gantry's own step"
    return StepRow(name, status, fields, refused, added, differences)


class FunctionRow(typing.NamedTuple):
    """One function: whose it is (Kargo's or expr-lang's), its status and where it runs."""

    name: str
    origin: str
    status: str
    places: list[str]
    differences: tuple[str, ...]


_PLACES = {"promotion": "promotion", "verification": "verification", "criteria": "Freight creation criteria"}


def function_row(name: str) -> FunctionRow:
    origin = "Kargo" if name in KARGO_FUNCTIONS else "expr-lang"
    places = [label for place, label in _PLACES.items() if name in KNOWN_FUNCTIONS[place]]
    differences = FUNCTION_DIFFERENCES.get(name, ())
    status = NOT_SUPPORTED if not places else (DIFFERS if differences else SUPPORTED)
    return FunctionRow(name, origin, status, places, differences)


def _literals(model: type[BaseModel], field: str) -> str:
    annotation = model.model_fields[field].annotation
    return ", ".join(f"`{v}`" for v in typing.get_args(annotation) if v)


def _notable() -> dict[str, list[str]]:
    """Fields a Kargo user looks for on each kind, read from the models."""
    subscriptions = [f for f in RepoSubscription.model_fields if f != "name"]
    providers = [f.alias or n for n, f in MetricProvider.model_fields.items()]
    analysis = [
        "metric providers measured: " + ", ".join(f"`{p}`" for p in providers if p in PROVIDERS),
        "accepted by `validate`, each measurement an Error at run time: "
        + ", ".join(f"`{p}`" for p in providers if p not in PROVIDERS),
    ]
    return {
        "AnalysisTemplate": analysis,
        "ClusterAnalysisTemplate": analysis,
        "ProjectConfig": [
            "`promotionPolicies[].stageSelector`: "
            + ", ".join(f"`{f.alias or n}`" for n, f in StageSelector.model_fields.items()),
        ],
        "Warehouse": [
            "subscriptions: " + ", ".join(f"`{s}`" for s in subscriptions) + " (see the differences for refusals)",
            "image `imageSelectionStrategy`: " + _literals(ImageSubscription, "image_selection_strategy"),
            "git `commitSelectionStrategy`: " + _literals(GitSubscription, "commit_selection_strategy"),
            "chart: " + ", ".join(f"`{f.alias or n}`" for n, f in ChartSubscription.model_fields.items()),
        ],
        "Stage": [
            "`requestedFreight[].sources.autoPromotionOptions.selectionPolicy`: "
            + _literals(AutoPromotionOptions, "selection_policy"),
            "`verification` with AnalysisTemplates and ClusterAnalysisTemplates",
        ],
    }


def _cell(items: typing.Iterable[str]) -> str:
    return "<br>".join(items) or "—"


def _code(items: typing.Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in items) or "—"


def render(cli_verbs: Mapping[str, tuple[str, str]]) -> str:
    """The whole of docs/kargo-compatibility.md; ``cli_verbs`` is Kargo command -> (Gantry's
    command or "", a note)."""
    out = [
        "# Kargo compatibility",
        "",
        "<!-- Generated by `python -m scripts.kargo_compatibility` from the code's registries"
        " (pipeline/compatibility.py); do not edit by hand. -->",
        "",
        "What Gantry does with each Kargo step, step field, expression function, kind and CLI",
        "command.",
        "Everything Gantry cannot do is refused at `gantry validate` / `gantry apply`, never",
        "accepted and ignored. The statements below live in the code next to what they",
        "describe (`KARGO_DIFFERENCES`, `GANTRY_FIELDS` and `not_supported_yet(...)` on the step",
        "config models and the kinds, `FUNCTION_DIFFERENCES` beside the function registry,",
        "`KARGO_VERBS` beside the CLI), and a test fails when this file and the code disagree.",
        "[steps.md](steps.md), [expressions.md](expressions.md), [manifests.md](manifests.md) and",
        "[cli.md](cli.md) say more about each.",
        "",
        "## Steps",
        "",
        "| step | status | differences from Kargo |",
        "|---|---|---|",
    ]
    rows = [step_row(name) for name in sorted(OSS_STEPS | ENTERPRISE_STEPS | set(STEP_CONFIGS))]
    for row in rows:
        refused = [f"refuses (not yet): {_code(row.refused)}"] if row.refused else []
        out.append(f"| `{row.name}` | {row.status} | {_cell(refused + row.differences)} |")
    out += [
        "",
        "## Step fields",
        "",
        "Kargo's config fields of each step Gantry runs (nested fields as `parent[].field`).",
        "Refused fields are accepted only at their default (unset, false, empty).",
        "",
        "| step | supported | refused: not yet | beyond Kargo's schema |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row.name in STEP_CONFIGS:
            out.append(f"| `{row.name}` | {_code(row.fields)} | {_code(row.refused)} | {_cell(row.added)} |")
    out += [
        "",
        "## Expression functions",
        "",
        "Kargo's functions and expr-lang's builtins; where each may be called (a promotion's",
        "steps, `vars` and `if`; verification args; a Warehouse's Freight creation criteria).",
        "",
        "| function | from | status | where | differences |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(KARGO_FUNCTIONS) + sorted(EXPR_LANG_FUNCTIONS):
        f = function_row(name)
        out.append(f"| `{f.name}` | {f.origin} | {f.status} | {', '.join(f.places) or '—'} | {_cell(f.differences)} |")
    out += [
        "",
        "## Kinds",
        "",
        "| kind | scope | status | notable fields | differences from Kargo |",
        "|---|---|---|---|---|",
    ]
    notable = _notable()
    for kind in sorted(MODELS):
        model = MODELS[kind]
        scope = "cluster" if kind in CLUSTER_SCOPED else "project"
        status = DIFFERS if model.KARGO_DIFFERENCES else SUPPORTED
        out.append(
            f"| {kind} | {scope} | {status} | {_cell(notable.get(kind, []))} | {_cell(model.KARGO_DIFFERENCES)} |"
        )
    for kind, instead in sorted(KARGO_KINDS_NOT_APPLIED.items()):
        out.append(f"| {kind} | — | not applied | — | {instead} |")
    out += ["", "## CLI verbs", "", "| Kargo | Gantry | notes |", "|---|---|---|"]
    for kargo, (gantry, note) in cli_verbs.items():
        out.append(f"| `{kargo}` | {f'`{gantry}`' if gantry else 'none'} | {note or '—'} |")
    return "\n".join(out) + "\n"
