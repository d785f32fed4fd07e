"""Runtime values beyond plain JSON data: callable Functions and Go-like records.

Expressions see nil (None), bool, int, float, str, lists and string-keyed dicts.
Two more kinds exist so Kargo's functions behave as they do in Go:

- `Function` wraps a Python callable that *we* provide. The evaluator calls only
  Function instances and its own builtins, never an arbitrary callable found in
  the environment, so input data can never make it run Python code.
- `Record` stands for a Go struct (kargoapi.Image, GitCommit, Chart, FreightOrigin,
  a semver version): fields are read by their Go names (`.Tag`, `.RepoURL`) and
  it serializes to JSON with Go's json tag names (`tag`, `repoURL`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable


class Function:
    """A host function the evaluator may call: `Function(fn, name="imageFrom")`.

    `fn` receives the evaluated arguments positionally. It should raise
    ExpressionError for bad input; any other exception it raises is turned
    into an ExpressionError by the evaluator.
    """

    __slots__ = ("fn", "name")

    def __init__(self, fn: Callable[..., Any], name: str | None = None):
        if not callable(fn):
            raise TypeError("Function needs a callable")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "function")

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"Function({self.name})"


class Record:
    """A Go struct value: fixed fields read by Go name, JSON by json tag.

    `fields` is a list of (go_name, json_name, omitempty); `values` maps
    go_name -> value. `methods` maps a method name to a Function taking the
    record as its first argument. `json_value`, when set, replaces the JSON form
    entirely (a semver version marshals as its string).
    """

    __slots__ = ("type_name", "fields", "values", "methods", "json_value", "text", "pointer")

    def __init__(
        self,
        type_name: str,
        fields: Iterable[tuple[str, str, bool]],
        values: dict[str, Any],
        *,
        methods: dict[str, Function] | None = None,
        json_value: Any = None,
        text: str | None = None,
        pointer: bool = False,
    ):
        self.type_name = type_name
        self.fields = tuple(fields)
        self.values = values
        self.methods = methods or {}
        self.json_value = json_value
        self.text = text  # what fmt's %v prints when the Go type has a String() method
        self.pointer = pointer

    def has_field(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> Any:
        return self.values[name]

    def to_json_data(self) -> Any:
        """The value as Go's encoding/json would see it (json names, omitempty)."""
        if self.json_value is not None:
            return self.json_value
        out: dict[str, Any] = {}
        for go_name, json_name, omitempty in self.fields:
            value = self.values.get(go_name)
            if omitempty and (value is None or value == "" or value == {} or value == [] or value is False or value == 0):
                continue
            out[json_name] = value
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Record)
            and other.type_name == self.type_name
            and other.values == self.values
        )

    def __hash__(self) -> int:
        return hash(self.type_name)

    def __repr__(self) -> str:
        return f"Record({self.type_name}, {self.values!r})"


def type_name(value: Any) -> str:
    """Type names as expr-lang's type() reports them, used in error messages too."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, Record):
        return value.type_name
    if isinstance(value, Function):
        return "func"
    return "unknown"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
