"""Manifest errors that name the file, line, document and field, in plain words.

pydantic's own messages talk about types and locations as tuples; a new user needs
"stages.yaml:12: Stage/uat: spec.promotionTemplate.spec: unknown field 'stpes'; did you mean
'steps'?". This module turns one into the other.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

__all__ = ["ManifestIssue", "ManifestError", "format_path", "issues_from_validation_error"]


class ManifestIssue(BaseModel):
    """One problem: where it is, and what is wrong."""

    file: str = ""
    line: int | None = None
    document: str = ""  # "Stage/uat"
    project: str | None = None
    path: str = ""  # "spec.requestedFreight[0].origin.name"
    message: str

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.document:
            parts.append(self.document)
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class ManifestError(Exception):
    """Every problem found, one per line when printed."""

    def __init__(self, issues: list[ManifestIssue]):
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)

    @classmethod
    def single(cls, source: Any, message: str, path: str = "", project: str | None = None) -> ManifestError:
        """One issue at an object's source (a SourceRef, or anything with file/line/document)."""
        return cls(
            [
                ManifestIssue(
                    file=getattr(source, "file", "") or "",
                    line=getattr(source, "line", None),
                    document=getattr(source, "document", "") or "",
                    project=project,
                    path=path,
                    message=message,
                )
            ]
        )

    def __reduce__(self):  # keep `issues` across pickling (Temporal failure conversion, tests)
        return (ManifestError, (self.issues,))


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('spec', 'steps', 0, 'config') -> 'spec.steps[0].config'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# ---------------------------------------------------------------------------
# Walking the model types, to know which fields are allowed at a place
# ---------------------------------------------------------------------------


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types a (possibly Optional/Annotated/Union) annotation stands for."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for a in typing.get_args(tp):
            if a is not type(None):
                out.extend(_unwrap(a))
        return out
    return [tp]


def _child_type(tp: Any, part: Any) -> Any | None:
    for t in _unwrap(tp):
        origin = typing.get_origin(t)
        if isinstance(part, int) and origin is list:
            return typing.get_args(t)[0]
        if isinstance(part, str) and origin is dict:
            return typing.get_args(t)[1]
        if isinstance(part, str) and isinstance(t, type) and issubclass(t, BaseModel):
            for name, f in t.model_fields.items():
                if part in (f.alias, name):
                    return f.annotation
    return None


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    tp: Any = root
    for part in loc:
        tp = _child_type(tp, part)
        if tp is None:
            return None
    for t in _unwrap(tp):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _fields_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _nested_path(model: type[BaseModel], key: str, depth: int = 4) -> str | None:
    """Where below `model` a field called `key` exists, as 'steps[]' or 'provider.job'."""
    queue: list[tuple[type[BaseModel], str, int]] = [(model, "", 0)]
    seen: set[type[BaseModel]] = set()
    while queue:
        current, prefix, d = queue.pop(0)
        if current in seen or d > depth:
            continue
        seen.add(current)
        for name, f in current.model_fields.items():
            alias = f.alias or name
            for t in _unwrap(f.annotation):
                suffix = ""
                origin = typing.get_origin(t)
                if origin is list:
                    t, suffix = typing.get_args(t)[0], "[]"
                elif origin is dict:
                    t, suffix = typing.get_args(t)[1], ".<name>"
                for inner in _unwrap(t):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        here = f"{prefix}.{alias}{suffix}" if prefix else f"{alias}{suffix}"
                        if key in _fields_of(inner):
                            return here
                        queue.append((inner, here, d + 1))
    return None


def _unknown_field_message(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    key = str(loc[-1])
    parent_loc = loc[:-1]
    parent = _model_at(root, parent_loc) if root is not None else None
    if parent is None:
        return f"unknown field '{key}' (check the indentation)"
    allowed = _fields_of(parent)
    # A real field one level down or up: almost surely mis-indented.
    below = _nested_path(parent, key)
    if below is not None:
        return (
            f"unknown field '{key}' here: it belongs inside '{below}', "
            "so check the indentation"
        )
    for i in range(len(parent_loc) - 1, -1, -1):
        anc = _model_at(root, parent_loc[:i]) if root is not None else None
        if anc is not None and key in _fields_of(anc):
            where = format_path(parent_loc[:i]) or "the top level of the document"
            return (
                f"unknown field '{key}' here: it belongs in {where}, "
                "so check the indentation"
            )
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
    if close:
        return f"unknown field '{key}'; did you mean '{close[0]}'? (check the indentation)"
    return f"unknown field '{key}' (allowed here: {', '.join(allowed)}; check the indentation)"


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if value is None:
        return "nothing"
    return repr(value)


def _plain_message(err: dict[str, Any], root: type[BaseModel] | None) -> str:
    typ = err.get("type", "")
    loc = tuple(err.get("loc", ()))
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if typ == "extra_forbidden":
        return _unknown_field_message(root, loc)
    if typ == "missing":
        return "field required"
    if typ == "literal_error":
        expected = str(ctx.get("expected", "?"))
        close = difflib.get_close_matches(value, re.findall(r"'([^']*)'", expected), n=1) if isinstance(value, str) else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"must be one of {expected} (got {_type_name(value)}){hint}"
    if typ in ("model_type", "model_attributes_type", "dict_type"):
        return (
            f"must be a mapping of fields (got {_type_name(value)}); "
            "check the indentation of the lines below it"
        )
    if typ == "list_type":
        return f"must be a list: start each item with '- ' (got {_type_name(value)})"
    if typ in ("string_type", "string_sub_type"):
        return f"must be text (got {_type_name(value)})"
    if typ in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {_type_name(value)})"
    if typ in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {_type_name(value)})"
    if typ in ("datetime_type", "datetime_parsing", "datetime_from_date_parsing"):
        return f"must be a timestamp such as 2024-05-01T12:00:00Z (got {_type_name(value)})"
    if typ == "string_pattern_mismatch":
        if loc[-2:] == ("metadata", "name") or loc[-1:] == ("name",):
            return (
                f"{value!r} is not a valid name: use lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit"
            )
        return f"{value!r} does not match the pattern {ctx.get('pattern')}"
    if typ == "string_too_short":
        return "must not be empty"
    if typ == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    if typ in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return err.get("msg", "out of range").replace("Input should be", "must be")
    if typ == "value_error":
        msg = str(err.get("msg", ""))
        return msg.removeprefix("Value error, ")
    return str(err.get("msg", "invalid value"))


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds the function/union branch names of validators to loc; they are not fields.
    return tuple(
        p for p in loc if not (isinstance(p, str) and (p.startswith("function-") or p in ("int", "str")))
    )


def issues_from_validation_error(
    exc: ValidationError,
    *,
    root: type[BaseModel] | None = None,
    file: str = "",
    document: str = "",
    project: str | None = None,
    line_of: Any = None,
    default_line: int | None = None,
) -> list[ManifestIssue]:
    """Translate a pydantic ValidationError into ManifestIssues.

    `line_of(path_tuple) -> int | None` finds the source line of a field (the nearest
    enclosing field if that one is missing).
    """
    issues: list[ManifestIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err.get("loc", ())))
        err = {**err, "loc": loc}
        message = _plain_message(err, root)
        path = format_path(loc)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        line = line_of(loc) if line_of is not None else None
        issues.append(
            ManifestIssue(
                file=file,
                line=line if line is not None else default_line,
                document=document,
                project=project,
                path=path,
                message=message,
            )
        )
    return issues
