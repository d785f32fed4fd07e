"""Kargo's data functions over what a promotion read at its start: stageMetadata,
freightMetadata, freightStatus, configMap, sharedConfigMap; and secret/sharedSecret,
which only a step's activity may call.

Kargo's functions read the cluster when called. A workflow may not, so the promotion's
context activity reads, once, what the templates name (`template_lookups`): the Stages'
metadata, the Freight named literally or as `ctx.targetFreight.name`, the ConfigMaps.
A name the templates compute is looked up among all of a kind, except Freight (a project
may hold thousands): there a computed name must be the promotion's own Freight.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Iterator

from pydantic import BaseModel, Field

from pipeline.expressions import ast
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.parser import parse
from pipeline.expressions.templates import expressions_in, has_expression
from pipeline.expressions.values import Function, type_name

#: functions whose argument names something the promotion has to read beforehand
LOOKUP_FUNCTIONS = ("stageMetadata", "freightMetadata", "freightStatus", "configMap", "sharedConfigMap")
#: functions whose values must never reach a workflow: the step's activity resolves them
SECRET_FUNCTIONS = ("secret", "sharedSecret")
#: (function's kind of data) -> the functions reading it
KINDS = {"stage": ("stageMetadata",), "freight": ("freightMetadata", "freightStatus"),
         "configMap": ("configMap",), "sharedConfigMap": ("sharedConfigMap",)}


@dataclass
class Lookups:
    """Names the templates read per kind; a kind in `computed` is also read by computed names."""

    names: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in KINDS})
    computed: set[str] = field(default_factory=set)


class PromotionData(BaseModel):
    """What the data functions answer from, read at the promotion's start (it rides in the
    promotion's context, so it holds only what the templates name)."""

    stage_metadata: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Stage -> its metadata")
    freight_status: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Freight name -> its status")
    config_maps: dict[str, dict[str, str]] = Field(default_factory=dict, description="the project's, name -> data")
    shared_config_maps: dict[str, dict[str, str]] = Field(default_factory=dict, description="kargo-shared-resources'")
    freight_complete: bool = Field(
        default=True, description="False: a template computes a Freight name, which may not have been read"
    )

    def selected(self, lookups: Lookups) -> PromotionData:
        """Only what `lookups` names (all of a kind a template computes names of); Freight
        status is left for the caller, which reads Freight one by one."""

        def pick(items: dict[str, Any], kind: str) -> dict[str, Any]:
            if kind in lookups.computed:
                return dict(items)
            return {name: items[name] for name in sorted(lookups.names[kind]) if name in items}

        return PromotionData(
            stage_metadata=pick(self.stage_metadata, "stage"),
            freight_status=dict(self.freight_status),
            config_maps=pick(self.config_maps, "configMap"),
            shared_config_maps=pick(self.shared_config_maps, "sharedConfigMap"),
            freight_complete="freight" not in lookups.computed,
        )

    def oversize(self, lookups: Lookups, limit: int) -> str:
        """Why this data is too large to ride in a promotion's history ("" when it is not):
        a template that computes ConfigMap or Stage names reads all of them."""
        size = len(self.model_dump_json())
        if size <= limit:
            return ""
        computed = {"configMap": "configMap", "sharedConfigMap": "sharedConfigMap", "stage": "stageMetadata"}
        computing = [f"{fn}()" for kind, fn in computed.items() if kind in lookups.computed]
        why = (
            f"; a template computes the name given to {', '.join(computing)}, so all of them are read: "
            "name them literally (configMap('settings')) to read only those"
            if computing
            else ""
        )
        return f"the data the templates read is {size // 1024} KB, over the {limit // 1024} KB a promotion carries{why}"

    def apply_metadata(self, updates: list[dict[str, Any]]) -> None:
        """set-metadata's updates ({kind, name, values}) as the catalog applied them, so later
        steps of the same promotion read them as Kargo's would."""
        for update in updates:
            name, values = str(update.get("name") or ""), dict(update.get("values") or {})
            if update.get("kind") == "Stage":
                self.stage_metadata.setdefault(name, {}).update(values)
            elif update.get("kind") == "Freight" and name in self.freight_status:
                self.freight_status[name].setdefault("metadata", {}).update(values)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _expressions(text: str) -> list[str]:
    """Expressions of a template (a bare `if` must come wrapped in `${{ }}`)."""
    if not has_expression(text):
        return []
    try:
        return list(expressions_in(text))
    except ExpressionError:
        return []


def _dotted(node: ast.Node) -> str | None:
    """`ctx.targetFreight.name` for the member chain that spells it, else None."""
    if isinstance(node, ast.Chain):
        return _dotted(node.inner)
    if isinstance(node, ast.Identifier):
        return node.name
    if isinstance(node, ast.Member) and isinstance(node.key, ast.Literal) and isinstance(node.key.value, str):
        base = _dotted(node.obj)
        return f"{base}.{node.key.value}" if base else None
    return None


def calls(expression: str) -> Iterator[ast.Call]:
    """Every plain call in an expression; nothing when it does not parse."""
    try:
        stack: list[ast.Node] = [parse(expression)]
    except ExpressionError:
        return
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.children(node))


def uses_secrets(text: str) -> bool:
    """Does this template call secret() or sharedSecret()?"""
    return any(call.name in SECRET_FUNCTIONS for expr in _expressions(text) for call in calls(expr))


def template_lookups(templates: Any, known: dict[str, str]) -> Lookups:
    """What the templates read, with `known` values for `ctx.stage`, `ctx.targetFreight.name`..."""
    found = Lookups()
    kind_of = {fn: kind for kind, fns in KINDS.items() for fn in fns}
    for text in _strings(templates):
        if not any(fn in text for fn in kind_of):
            continue
        for expression in _expressions(text):
            for call in calls(expression):
                kind = kind_of.get(call.name)
                if kind is None or not call.args:
                    continue
                arg = call.args[0]
                if isinstance(arg, ast.Literal) and isinstance(arg.value, str):
                    found.names[kind].add(arg.value)
                elif _dotted(arg) in known:
                    found.names[kind].add(known[_dotted(arg)])  # type: ignore[index]
                else:
                    found.computed.add(kind)
    return found


def _name(fn: str, args: tuple[Any, ...]) -> str:
    if len(args) != 1:
        raise ExpressionError(f"{fn}: expected 1 argument, got {len(args)}")
    if not isinstance(args[0], str):
        raise ExpressionError(f"{fn}: argument must be string, got {type_name(args[0])}")
    return args[0]


#: per status map, the fields of Kargo's entries (CurrentStage, VerifiedStage, ApprovedStage)
_STATUS_FIELDS = {"currentlyIn": ("since",), "verifiedIn": ("verifiedAt", "longestSoak"), "approvedFor": ("approvedAt",)}


def _metav1_time(value: Any) -> Any:
    """metav1.Time's JSON: RFC 3339 in UTC, whole seconds ("2026-12-01T13:05:09Z")."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kargo_freight_status(status: dict[str, Any]) -> dict[str, Any]:
    """Gantry's Freight status as Kargo's FreightStatus marshals: its fields only (an
    approval's `by` is Gantry's), times as metav1.Time."""
    out: dict[str, Any] = {}
    for key, fields in _STATUS_FIELDS.items():
        entries = status.get(key)
        if entries:
            out[key] = {
                stage: {f: (v if f == "longestSoak" else _metav1_time(v)) for f in fields if (v := (entry or {}).get(f))}
                for stage, entry in entries.items()
            }
    if status.get("metadata"):
        out["metadata"] = copy.deepcopy(status["metadata"])
    return out


def data_functions(data: PromotionData | None) -> dict[str, Function]:
    """The data functions over `data` (None: nothing was read, every lookup finds nothing)."""
    data = data or PromotionData()

    def stage_metadata(*args: Any) -> dict[str, Any] | None:
        name = _name("stageMetadata", args)
        if not name:
            raise ExpressionError("stageMetadata: stage name must not be empty")
        found = data.stage_metadata.get(name)
        return copy.deepcopy(found) if found else None

    def freight(fn: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        name = _name(fn, args)
        if not name:
            raise ExpressionError(f"{fn}: freight ref name must not be empty")
        if name in data.freight_status:
            return copy.deepcopy(data.freight_status[name])
        if not data.freight_complete:
            raise ExpressionError(
                f"{fn}: Freight {name!r} was not read at the promotion's start: Gantry reads the Freight "
                "named literally in templates, or as ctx.targetFreight.name"
            )
        return None

    def freight_metadata(*args: Any) -> dict[str, Any] | None:
        if len(args) == 2:
            raise ExpressionError(
                "freightMetadata: expected 1 argument, got 2 (Kargo removed the (name, key) form: "
                "use freightMetadata(name).key or freightMetadata(name)['key'])"
            )
        status = freight("freightMetadata", args)
        return (status or {}).get("metadata") or None

    def freight_status(*args: Any) -> dict[str, Any] | None:
        status = freight("freightStatus", args)
        return None if status is None else kargo_freight_status(status)

    def config_map(*args: Any) -> dict[str, str]:
        return dict(data.config_maps.get(_name("configMap", args)) or {})

    def shared_config_map(*args: Any) -> dict[str, str]:
        return dict(data.shared_config_maps.get(_name("sharedConfigMap", args)) or {})

    return {
        "stageMetadata": Function(stage_metadata, "stageMetadata"),
        "freightMetadata": Function(freight_metadata, "freightMetadata"),
        "freightStatus": Function(freight_status, "freightStatus"),
        "configMap": Function(config_map, "configMap"),
        "sharedConfigMap": Function(shared_config_map, "sharedConfigMap"),
    }


def workflow_secret_functions() -> dict[str, Function]:
    """secret()/sharedSecret() where a workflow evaluates: refused, with where they work."""

    def refuse(fn: str) -> Function:
        def call(*args: Any) -> Any:
            raise ExpressionError(
                f"{fn}() can only be used in a step's config: the step resolves it on its worker, so "
                "no secret enters the workflow history (not in vars, `if` or verification args)"
            )

        return Function(call, fn)

    return {fn: refuse(fn) for fn in SECRET_FUNCTIONS}


def secret_functions(lookup: Any) -> dict[str, Function]:
    """secret(name), sharedSecret(name) over `lookup(name, shared) -> dict | None` (the
    activity's store); a missing secret is an empty map, as in Kargo."""

    def make(fn: str, shared: bool) -> Function:
        def call(*args: Any) -> dict[str, str]:
            return dict(lookup(_name(fn, args), shared) or {})

        return Function(call, fn)

    return {"secret": make("secret", False), "sharedSecret": make("sharedSecret", True)}
