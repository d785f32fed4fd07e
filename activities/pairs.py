"""Lists of ``{name, value}`` mappings: the one parser for every such list in a config.

Kargo's ``http`` and ``http-download`` steps take ``headers`` and ``queryParams`` as
``[{name, value}]``; Argo Rollouts' web and Prometheus metrics take ``headers`` as
``[{key, value}]`` (``name`` accepted too); a job's container takes ``env`` as
``[{name, value}]``. Each caller says which key names the entry, whether other fields are
refused, whether an empty value is allowed, and turns a ``PairsError`` into its own error
(a step failure, a metric's configuration error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PairsError(ValueError):
    """``where`` (``headers[1].value``) and what is wrong with it (``must be ...``)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} {problem}")
        self.where = where
        self.problem = problem


def name_value_list(
    raw: Any,
    field: str,
    *,
    key: str = "name",
    also: str | None = None,
    exact: bool = False,
    empty_value: bool = True,
    unsupported: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of ``raw``, a list of mappings found at ``field``.

    ``key`` names an entry (``also`` is accepted in its place); with ``exact`` a mapping may
    hold nothing but the key and ``value``; a value is a string or a number (absent or null:
    ``""``, refused unless ``empty_value``); ``unsupported`` maps a field that may not be used
    to the reason given."""
    shape = f"{{{key}, value}}"
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PairsError(field, f"must be a list of {shape}")
    pairs = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or (exact and set(item) - {key, "value"}):
            raise PairsError(where, f"must be a mapping {shape}")
        name = item.get(key, item.get(also) if also else None)
        if not isinstance(name, str) or not name:
            raise PairsError(f"{where}.{key}", "must be a non-empty string")
        for field_name, reason in (unsupported or {}).items():
            if field_name in item:
                raise PairsError(where, f"({name}): {reason}")
        value = item.get("value")
        if value is None:
            value = ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (value == "" and not empty_value):
            raise PairsError(f"{where}.value", "must be a non-empty string" if not empty_value else "must be a string")
        pairs.append((name, str(value)))
    return pairs
