"""Kubernetes label selectors and Kargo name patterns, shared by every place that takes one
(ProjectConfig `stageSelector`, argocd-update `apps[].selector`).

A label selector is `matchLabels` ANDed with every `matchExpressions` requirement, exactly
as `metav1.LabelSelectorAsSelector` reads it: `In` needs the label with one of the values,
`NotIn` is true when the label is absent or has none of them, `Exists`/`DoesNotExist` test
the key alone. An empty selector selects everything. Keys and values must be what
Kubernetes accepts for labels, so a selector that could never be applied to a Kubernetes
object is refused where it is read, not silently never matched.

A name pattern is Kargo's (`pkg/pattern`): `glob:<doublestar glob>`, `regex:`/`regexp:<Go
regular expression>` (unanchored, as Go's `MatchString`), or an exact name.

Pure code: imported inside Temporal's workflow sandbox.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.discovery.git_selection import compile_glob
from pipeline.goregex import compile_go

__all__ = ["LabelSelector", "LabelRequirement", "check_labels", "check_name_pattern", "name_matcher"]

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_key(key: str) -> str:
    """A label key: an optional DNS-subdomain prefix and '/', then a name of 63 characters."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        raise ValueError(f"invalid label key {key!r}: the prefix before '/' is empty")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ValueError(f"invalid label key {key!r}: the prefix must be a lowercase DNS subdomain")
    if not name or len(name) > 63 or not _NAME.match(name):
        raise ValueError(
            f"invalid label key {key!r}: a name of at most 63 characters, alphanumeric at both "
            "ends, with '-', '_' or '.' between"
        )
    return key


def _check_value(value: str) -> str:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise ValueError(
            f"invalid label value {value!r}: empty, or at most 63 characters, alphanumeric at "
            "both ends, with '-', '_' or '.' between"
        )
    return value


def check_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    """`matchLabels` back, or a ValueError naming the key or value Kubernetes refuses."""
    for k, v in (labels or {}).items():
        _check_key(k)
        _check_value(v)
    return labels


class _Strict(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="forbid")


class LabelRequirement(_Strict):
    """One `matchExpressions` entry."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        return _check_key(key)

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str]) -> list[str]:
        for v in values:
            _check_value(v)
        return values

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value in 'values'")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no 'values'")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.operator == "In":
            return has and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not has or labels[self.key] not in self.values
        if self.operator == "Exists":
            return has
        return not has

    def query(self) -> str:
        """The requirement in Kubernetes' selector text (`?selector=` of list APIs)."""
        if self.operator in ("In", "NotIn"):
            return f"{self.key} {self.operator.lower()} ({','.join(self.values)})"
        return self.key if self.operator == "Exists" else f"!{self.key}"


class LabelSelector(_Strict):
    """`matchLabels` and `matchExpressions`, ANDed."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[LabelRequirement] = Field(default_factory=list, alias="matchExpressions")

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return check_labels(labels)

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def query(self) -> str:
        """Kubernetes' selector text, as Argo CD's `?selector=` takes it."""
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        return ",".join(parts + [r.query() for r in self.match_expressions])


def check_name_pattern(pattern: str) -> str:
    """The pattern back, or a ValueError naming what Go or doublestar refuses in it. A name
    with a ':' must start with a known identifier, as Kargo's ProjectConfig webhook says."""
    ident, colon, _ = pattern.partition(":")
    if colon and ident not in ("regex", "regexp", "glob"):
        close = difflib.get_close_matches(ident, ["regex", "regexp", "glob"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f'invalid pattern identifier {ident!r}: must be "regex", "regexp" or "glob"{hint}')
    name_matcher(pattern)
    return pattern


def name_matcher(pattern: str) -> Callable[[str], bool]:
    """Kargo's `pattern.ParseNamePattern`: `glob:`, `regex:`/`regexp:`, else an exact name."""
    for prefix in ("regex:", "regexp:"):
        if pattern.startswith(prefix):
            rx = compile_go(pattern[len(prefix) :])  # a GoRegexError (ValueError) names it
            return lambda name: rx.search(name) is not None
    if pattern.startswith("glob:"):
        glob = compile_glob(pattern[len("glob:") :])
        return lambda name: glob.fullmatch(name) is not None
    return lambda name: name == pattern
