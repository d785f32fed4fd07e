"""The base of every step's config model, and the one way a config is checked.

A step's ``config`` is Kargo's: camelCase field names, unknown fields refused (Kargo's step
schemas say ``additionalProperties: false``). The same model checks a config twice:

- at ``validate``/``apply`` (:func:`config_issues` with ``rendered=False``): every field that
  holds no ``${{ }}`` expression is checked fully; a field whose value holds an expression (or
  lies inside one that does) is left for run time, as only then is its value known;
- at run time, after rendering (:func:`parse_config`): the whole config, typed.

Pure code (pydantic only): imported by ``pipeline`` (validation), workflows and activities.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

EXPRESSION_MARK = "${{"


class StepConfig(BaseModel):
    """Base of a step's config: snake_case attributes over Kargo's camelCase names (give an
    explicit ``Field(alias=...)`` where Kargo's spelling is not plain camelCase, as in
    ``repoURL``); unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )

    #: where the step (or this part of its config) behaves unlike Kargo, one line each;
    #: docs/kargo-compatibility.md is generated from them (pipeline/compatibility.py)
    KARGO_DIFFERENCES: ClassVar[tuple[str, ...]] = ()
    #: fields (Kargo's spelling) that Kargo's current schema lacks and Gantry accepts -> why
    GANTRY_FIELDS: ClassVar[dict[str, str]] = {}


def not_supported_yet(*fields: str) -> Any:
    """A validator for the Kargo fields a step's model knows but Gantry does not honour yet:
    a value other than the default (unset, false, empty) is refused, never ignored.
    Assign it once per model (``not_yet = not_supported_yet("blobless", ...)``), so lifting a
    field is one edit; :func:`unsupported_fields` reads them back for the compatibility table."""

    def refuse(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
        if value not in (None, False, "", [], {}):
            field = cls.model_fields[info.field_name or ""]
            raise ValueError(f"'{field.alias or info.field_name}' is not supported by Gantry yet")
        return value

    refuse.not_supported_yet = True  # type: ignore[attr-defined]
    return field_validator(*fields)(refuse)


def unsupported_fields(model: type[BaseModel]) -> list[str]:
    """The Kargo names of ``model``'s own fields that :func:`not_supported_yet` refuses."""
    names = [
        name
        for decorator in model.__pydantic_decorators__.field_validators.values()
        if getattr(decorator.func, "not_supported_yet", False)
        for name in decorator.info.fields
    ]
    return [model.model_fields[n].alias or n for n in model.model_fields if n in names]


class FieldError(ValueError):
    """A model validator's complaint about one field of the object it checks (``field`` is
    Kargo's name), so the issue's path names that field rather than the object."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a step's config: ``path`` is below ``config`` (``targetBranch``,
    ``images[0].tag``); empty for the config as a whole."""

    path: str
    message: str


M = TypeVar("M", bound=BaseModel)


def _holds_expression(value: Any) -> bool:
    if isinstance(value, str):
        return EXPRESSION_MARK in value
    if isinstance(value, dict):
        return any(_holds_expression(k) or _holds_expression(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_expression(v) for v in value)
    return False


def _deferred(raw: Any, loc: tuple[Any, ...]) -> bool:
    """True when some value on the way to ``loc`` (or at it) holds an expression."""
    value = raw
    for part in loc:
        if isinstance(value, str) and EXPRESSION_MARK in value:
            return True
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return False
    return _holds_expression(value)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose fields are allowed at ``loc`` (to suggest a known name)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def allowed_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _message(model: type[BaseModel], error: Any) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        parent = _model_at(model, loc[:-1])
        allowed = allowed_fields(parent) if parent is not None else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            return f"unknown field '{key}'; did you mean '{close[0]}'?"
        return f"unknown field '{key}'" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if error["type"] == "missing":
        return "required, but missing"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message


def config_issues(model: type[BaseModel], raw: Any, *, rendered: bool) -> list[ConfigIssue]:
    """Problems of ``raw`` against ``model``; before rendering, values that hold an expression
    (and everything inside them) are not judged."""
    if raw is None:
        raw = {}
    if not rendered and _holds_expression(raw) and not isinstance(raw, dict):
        return []  # the whole config is an expression: known at run time only
    if not isinstance(raw, dict):
        return [ConfigIssue("", f"the config must be a mapping of fields, not {type(raw).__name__}")]
    try:
        model.model_validate(raw)
    except ValidationError as err:
        issues = []
        for error in err.errors():
            loc = tuple(error["loc"])
            if not rendered and _deferred(raw, loc):
                continue  # for a rule across fields, loc is their object: any expression in it defers
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, FieldError):
                loc = (*loc, cause.field)
            issues.append(ConfigIssue(_path(loc), _message(model, error)))
        return issues
    return []


class ConfigError(ValueError):
    """A rendered config that its step's model refuses; the message names every field."""

    def __init__(self, uses: str, issues: list[ConfigIssue]) -> None:
        self.uses = uses
        self.issues = issues
        parts = [f"config field '{i.path}': {i.message}" if i.path else i.message for i in issues]
        super().__init__(f"{uses}: " + "; ".join(parts))


def parse_config(model: type[M], raw: Any, *, uses: str = "") -> M:
    """The rendered config, typed; :class:`ConfigError` naming every bad field otherwise."""
    issues = config_issues(model, raw, rendered=True)
    if issues:
        raise ConfigError(uses or model.__name__, issues)
    return model.model_validate(raw or {})
