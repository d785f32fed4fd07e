"""One AnalysisRun spec from the (Cluster)AnalysisTemplates a Stage's verification names.

Follows Kargo (``pkg/rollouts/analysis_run_builder.go``, ``analysis_template.go``) on top of
Argo Rollouts (``utils/analysis/helpers.go``, ``utils/analysis/factory.go`` ValidateMetrics):

- AnalysisTemplates first, then ClusterAnalysisTemplates, each in the order given; metric
  names must be unique across all of them.
- Template args are merged: the same arg in two templates with two different values is an
  error; a value fills in an arg another template declared without one.
- The Stage's ``verification.args`` (already evaluated by the caller) override declared
  args; an empty value does not override; an arg no template declares is ignored (as Kargo).
- Every declared arg needs a value (its default, the Stage's, or ``valueFrom``); a
  ``{{ args.x }}`` no template declares is an error. Both are found here, before any
  measurement.
- ``{{ args.name }}`` is substituted into every string of each metric (provider config,
  conditions, durations, counts). Args with ``valueFrom`` (a Secret) are NOT substituted
  here, so their values never enter workflow history: their placeholders stay, and the
  measuring activity calls :func:`render_deferred_args` with the resolved values.
- dryRun and measurementRetention rules are merged; each rule is a regular expression on
  metric names that must match at least one metric (``*`` alone means every metric).

Pure code.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.analysis.metric import RunMetric
from pipeline.expressions import ExpressionError, render_args
from pipeline.expressions.regex import compile_pattern
from pipeline.manifests.models import (
    AnalysisRunArgument,
    AnalysisTemplate,
    ClusterAnalysisTemplate,
    Metric,
)

__all__ = [
    "AnalysisRunSpec",
    "AnalysisSpecError",
    "build_run_spec",
    "render_deferred_args",
    "validate_metric",
]

AnyTemplate = Union[AnalysisTemplate, ClusterAnalysisTemplate]


class AnalysisSpecError(ValueError):
    """The templates cannot form a valid AnalysisRun (Argo Rollouts: the run is Error)."""


class AnalysisRunSpec(BaseModel):
    """A resolved AnalysisRun: what the verification workflow measures."""

    model_config = ConfigDict(extra="forbid")

    metrics: list[RunMetric]
    #: Names of the metrics in dry run (measured, never deciding the verdict).
    dry_run: list[str] = Field(default_factory=list)
    #: measurementRetention limits by metric name. Informational: Gantry keeps every measurement.
    measurement_retention: dict[str, int] = Field(default_factory=dict)
    #: Arg values substituted into the metrics.
    args: dict[str, str] = Field(default_factory=dict)
    #: Args resolved at measurement time (``valueFrom``), as given; still ``{{ args.x }}`` in metrics.
    deferred_args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: The templates the run was built from, as ``Kind/name``.
    templates: list[str] = Field(default_factory=list)


def _label(template: AnyTemplate) -> str:
    return f'{template.kind} "{template.metadata.name}"'


def _ordered(templates: Iterable[AnyTemplate]) -> list[AnyTemplate]:
    # Kargo's combineAnalysisTemplateSpecs: namespaced templates first, then cluster ones.
    items = list(templates)
    return [t for t in items if t.kind == "AnalysisTemplate"] + [
        t for t in items if t.kind == "ClusterAnalysisTemplate"
    ]


class _Arg:
    __slots__ = ("name", "value", "value_from", "declared_by")

    def __init__(self, name: str, value: str | None, value_from: Any, declared_by: str) -> None:
        self.name = name
        self.value = value
        self.value_from = value_from
        self.declared_by = [declared_by]


def _stage_arg_values(stage_args: Mapping[str, str] | Sequence[AnalysisRunArgument] | None) -> dict[str, str]:
    if stage_args is None:
        return {}
    if isinstance(stage_args, Mapping):
        items = list(stage_args.items())
    else:
        items = [(a.name, a.value) for a in stage_args]
    out: dict[str, str] = {}
    for name, value in items:
        if value is None or value == "":
            continue  # Kargo: an empty Stage arg does not override the template's
        if not isinstance(value, str):
            raise AnalysisSpecError(f'verification arg "{name}" must be a string, got {type(value).__name__}')
        out[name] = value
    return out


def _merge_args(templates: list[AnyTemplate], stage_values: dict[str, str]) -> dict[str, _Arg]:
    merged: dict[str, _Arg] = {}
    for template in templates:
        label = _label(template)
        for arg in template.spec.args:
            value_from = arg.value_from.model_dump(mode="json", exclude_none=True) if arg.value_from else None
            prev = merged.get(arg.name)
            if prev is None:
                merged[arg.name] = _Arg(arg.name, arg.value, value_from, label)
                continue
            if prev.value is not None and arg.value is not None and prev.value != arg.value:
                raise AnalysisSpecError(
                    f'arg "{arg.name}" has two different default values: {prev.value!r} in '
                    f"{' and '.join(prev.declared_by)}, {arg.value!r} in {label}"
                )
            if prev.value is None and arg.value is not None:
                prev.value = arg.value
            elif prev.value is None and prev.value_from is None and value_from is not None:
                prev.value_from = value_from
            prev.declared_by.append(label)
    for name, value in stage_values.items():
        if name in merged:
            merged[name].value = value
            merged[name].value_from = None
    for arg in merged.values():
        if arg.value is None and arg.value_from is None:
            raise AnalysisSpecError(
                f'arg "{arg.name}" of {" and ".join(arg.declared_by)} has no value: give it a '
                f"default in the template or a value in the Stage's spec.verification.args"
            )
    return merged


def _render(value: Any, values: dict[str, str], where: str) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        try:
            return render_args(value, values)
        except ExpressionError as exc:
            raise AnalysisSpecError(f"{where}: {exc.message}") from None
    if isinstance(value, list):
        return [_render(v, values, where) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, values, where) for k, v in value.items()}
    return value



def _resolve_metric(metric: Metric, label: str, values: dict[str, str]) -> RunMetric:
    raw = metric.model_dump(mode="json", by_alias=False, exclude_none=True)
    provider = metric.provider.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    raw.pop("provider", None)
    where = f'{label}, metric "{metric.name}"'
    try:
        rendered = _render(raw, values, where)
        rendered_provider = _render(provider, values, where)
    except AnalysisSpecError as exc:
        message = str(exc)
        if "failed to resolve" in message:
            message += " (every {{ args.x }} must be declared in the template's spec.args)"
        raise AnalysisSpecError(message) from None
    try:
        return RunMetric(template=label, provider=rendered_provider, **rendered)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise AnalysisSpecError(f"{where}: {problems}") from None


def validate_metric(metric: RunMetric) -> None:
    """ValidateMetric (utils/analysis/factory.go): limits and counts that cannot work together."""
    where = f'metric "{metric.name}"' + (f" of {metric.template}" if metric.template else "")
    count = metric.count or 0
    failure_limit = metric.effective_failure_limit
    success_limit = metric.effective_consecutive_success_limit
    inconclusive_limit = metric.effective_inconclusive_limit
    problem = None
    if success_limit < 0:
        problem = "consecutiveSuccessLimit must be >= 0"
    elif failure_limit < -1:
        problem = "failureLimit must be >= 0, or -1 to disable it"
    elif success_limit == 0 and failure_limit == -1:
        problem = "failureLimit and consecutiveSuccessLimit cannot both be disabled"
    elif inconclusive_limit < 0:
        problem = "inconclusiveLimit must be >= 0"
    elif metric.effective_consecutive_error_limit < 0:
        problem = "consecutiveErrorLimit must be >= 0"
    elif count > 0 and failure_limit >= 0 and count < failure_limit + success_limit:
        problem = (
            f"count ({count}) must be >= failureLimit + consecutiveSuccessLimit "
            f"({failure_limit} + {success_limit})"
        )
    elif count > 0 and failure_limit < 0 and count < success_limit:
        problem = f"count ({count}) must be >= consecutiveSuccessLimit ({success_limit})"
    elif count > 0 and count < inconclusive_limit:
        problem = f"count ({count}) must be >= inconclusiveLimit ({inconclusive_limit})"
    elif count > 1 and metric.interval is None:
        problem = f"count is {count}: an interval is needed to take more than one measurement"
    if problem:
        raise AnalysisSpecError(f"{where}: {problem}")
    if not metric.provider:
        raise AnalysisSpecError(f"{where}: no provider")


def _match_rules(
    rules: list[tuple[str, str]], metric_names: list[str], what: str
) -> dict[str, list[str]]:
    """Rule (metric name pattern) -> the metric names it matches; each rule must match one."""
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for index, (pattern, label) in enumerate(rules):
        if pattern in seen:
            raise AnalysisSpecError(f"{what}: the rule {pattern!r} appears twice (again in {label})")
        seen.add(pattern)
        if pattern == "*":
            matched = list(metric_names)
        else:
            try:
                regex = compile_pattern(pattern)
            except ExpressionError as exc:
                raise AnalysisSpecError(f"{what}[{index}] of {label}: {exc.message}") from None
            matched = [n for n in metric_names if regex.search(n)]
        if not matched:
            raise AnalysisSpecError(f"{what}[{index}] of {label}: {pattern!r} matches no metric name")
        out[pattern] = matched
    return out


def build_run_spec(
    templates: Iterable[AnyTemplate],
    stage_args: Mapping[str, str] | Sequence[AnalysisRunArgument] | None = None,
) -> AnalysisRunSpec:
    """Flatten the templates into one AnalysisRun spec; raise AnalysisSpecError if they cannot."""
    ordered = _ordered(templates)
    if not ordered:
        raise AnalysisSpecError("verification names no AnalysisTemplate")
    for template in ordered:
        if template.spec.templates:
            raise AnalysisSpecError(
                f"{_label(template)}: spec.templates (templates that include other templates) "
                "is not supported; list each template in the Stage's verification instead"
            )

    owner: dict[str, str] = {}
    for template in ordered:
        label = _label(template)
        for metric in template.spec.metrics:
            if metric.name in owner:
                first = owner[metric.name]
                where = f"{first} and {label}" if first != label else f"{label} (twice)"
                raise AnalysisSpecError(
                    f'metric name "{metric.name}" is used by {where}: metric names must be '
                    "unique across the templates of one verification"
                )
            owner[metric.name] = label

    args = _merge_args(ordered, _stage_arg_values(stage_args))
    values: dict[str, str] = {}
    deferred: dict[str, dict[str, Any]] = {}
    for arg in args.values():
        if arg.value is not None:
            values[arg.name] = arg.value
        else:
            deferred[arg.name] = arg.value_from
            values[arg.name] = "{{ args.%s }}" % arg.name  # kept for the measuring activity

    metrics: list[RunMetric] = []
    for template in ordered:
        label = _label(template)
        for metric in template.spec.metrics:
            resolved = _resolve_metric(metric, label, values)
            validate_metric(resolved)
            metrics.append(resolved)
    if not metrics:
        raise AnalysisSpecError("the templates have no metrics")

    names = [m.name for m in metrics]
    dry_rules = [(d.metric_name, _label(t)) for t in ordered for d in t.spec.dry_run]
    dry_matched = _match_rules(dry_rules, names, "dryRun")
    dry_set = {n for matched in dry_matched.values() for n in matched}
    retention_rules = [(r.metric_name, _label(t)) for t in ordered for r in t.spec.measurement_retention]
    limits = {r.metric_name: r.limit for t in ordered for r in t.spec.measurement_retention}
    retention: dict[str, int] = {}
    for pattern, matched in _match_rules(retention_rules, names, "measurementRetention").items():
        for name in matched:
            retention[name] = limits[pattern]

    return AnalysisRunSpec(
        metrics=metrics,
        dry_run=[n for n in names if n in dry_set],
        measurement_retention=retention,
        args={n: v for n, v in values.items() if n not in deferred},
        deferred_args=deferred,
        templates=[f"{t.kind}/{t.metadata.name}" for t in ordered],
    )


def render_deferred_args(metric: RunMetric, values: Mapping[str, str]) -> RunMetric:
    """Substitute the `valueFrom` args (resolved by an activity) into a metric's strings."""
    data = metric.model_dump(mode="json")
    rendered = _render(data, dict(values), f'metric "{metric.name}"')
    return RunMetric(**rendered)
