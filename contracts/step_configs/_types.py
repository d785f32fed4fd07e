"""Field types several step configs share, as Kargo's schemas spell them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from contracts.step_configs.base import StepConfig
from pipeline.selectors import LabelSelector

def _bool_text(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _int_text(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


#: true or false (also as the text an expression may render to); not "yes", 1 or "on"
Bool = Annotated[bool, BeforeValidator(_bool_text), Field(strict=True)]

#: a whole number (also as text); not 1.5 or true
Int = Annotated[int, BeforeValidator(_int_text), Field(strict=True)]

#: a string Kargo requires non-empty (``minLength: 1``)
NonEmpty = Annotated[str, Field(min_length=1)]

def matching(pattern: str, what: str) -> AfterValidator:
    """A check that a string matches ``pattern`` (Kargo's), with a message a person reads."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


#: a Go duration such as ``30s`` or ``1h30m`` (Kargo's pattern)
Duration = Annotated[str, matching(r"^(?:\d+(ns|us|µs|ms|s|m|h))+$", "a duration such as 30s, 5m or 1h30m")]

#: the Git hosting services Kargo's PR steps name, and ``forgejo`` (Gantry's name for a
#: Forgejo host, which speaks Gitea's API)
Provider = Literal["azure", "bitbucket", "forgejo", "gitea", "github", "gitlab"]
#: the difference from Kargo of every field typed :data:`Provider` (the compatibility table
#: states it for each step that has one)
PROVIDER_DIFFERENCE = "`provider: forgejo` is accepted (a Forgejo host, which speaks Gitea's API)"


class NameValue(StepConfig):
    """An HTTP header or query parameter."""

    name: NonEmpty
    value: NonEmpty


class NamedExpression(StepConfig):
    """An output named ``name`` whose value is the expression ``fromExpression``."""

    name: NonEmpty
    from_expression: NonEmpty


class GitAuthor(StepConfig):
    """The committer identity a git step may set; ``signingKey`` is an ASCII-armored GPG
    private key (without a passphrase) that signs the commits (activities.git_signing)."""

    name: NonEmpty
    email: str
    signing_key: str | None = None


class AppSelector(LabelSelector):
    """Argo CD Applications by label (Kargo's argocd-common selector): the label selector
    every Gantry selector uses (pipeline.selectors), with at least one criterion."""

    @model_validator(mode="after")
    def _some_criterion(self) -> AppSelector:
        if self.is_empty():
            raise ValueError("a selector needs matchLabels or matchExpressions")
        return self


def one_of(config: StepConfig, *fields: str) -> list[str]:
    """The aliases of ``fields`` (attribute names) holding a non-empty value."""
    return [type(config).model_fields[f].alias or f for f in fields if getattr(config, f) not in (None, "", False, [])]
