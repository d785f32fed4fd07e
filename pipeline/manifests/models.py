"""pydantic models of the Kargo (and Argo Rollouts) documents Gantry reads.

Field names follow Kargo's YAML exactly (camelCase aliases over snake_case attributes), so a
Kargo manifest loads unchanged and :meth:`KargoModel.to_yaml_dict` gives it back. Unknown
fields are errors, because a wrongly indented key usually shows up as an unknown field one
level up; free-form places (step ``config``, job specs, provider settings we do not model)
accept anything.

Pure code: imported inside Temporal's workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pipeline.durations import DURATION_HINT, parse_duration
from pipeline.selectors import LabelRequirement, LabelSelector, check_labels, check_name_pattern

KARGO_API = "kargo.akuity.io/v1alpha1"
ARGO_API = "argoproj.io/v1alpha1"


# ---------------------------------------------------------------------------
# Shared building blocks
# ---------------------------------------------------------------------------


class KargoModel(BaseModel):
    """Base of every model: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
    )

    #: where this kind behaves unlike Kargo's, one line each (docs/kargo-compatibility.md is
    #: generated from them by pipeline/compatibility.py)
    KARGO_DIFFERENCES: ClassVar[tuple[str, ...]] = ()

    def to_yaml_dict(self) -> dict[str, Any]:
        """The document as Kargo YAML would hold it: aliases, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError:
        raise ValueError(f"invalid duration {value!r}: {DURATION_HINT}") from None
    if value.strip().startswith("-"):
        raise ValueError(f"invalid duration {value!r}: a duration cannot be negative")
    return value


def _check_template_duration(value: str) -> str:
    """Argo templates may put ``{{ args.x }}`` in a duration; it is resolved at run time."""
    if "{{" in value:
        return value
    return _check_duration(value)


def _duration_text(value: Any) -> Any:
    # A bare YAML number (``interval: 30``) is not a Go duration; say so in duration words.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {DURATION_HINT}")
    return value


#: Go duration text as the user wrote it (``2h``, ``1h30m``); see pipeline.durations.
Duration = Annotated[str, BeforeValidator(_duration_text), AfterValidator(_check_duration)]
#: Argo Rollouts DurationString: a Go duration or an ``{{ args.* }}`` placeholder.
TemplateDuration = Annotated[
    str, BeforeValidator(_duration_text), AfterValidator(_check_template_duration)
]


def _int_or_string(value: Any) -> Any:
    # Kubernetes IntOrString: a number, or text such as "{{ args.count }}".
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("must be a whole number or a string")
    return value


IntOrString = Annotated[Union[int, str], BeforeValidator(_int_or_string)]


def _scalar_text(value: Any) -> Any:
    # Vars and args are strings in Kargo; YAML turns `value: 3` or `value: true` into
    # other types, which we read back as the text the user typed.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


ScalarText = Annotated[str, BeforeValidator(_scalar_text)]

_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class ObjectMeta(KargoModel):
    """Kubernetes metadata. Only name, namespace, labels and annotations mean anything here;
    the other standard fields are accepted so that `kubectl get -o yaml` output loads."""

    name: str = Field(min_length=1, max_length=253, pattern=_NAME_PATTERN)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # Standard Kubernetes fields, kept as given and otherwise ignored.
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    managed_fields: list[dict[str, Any]] | None = None
    generate_name: str | None = None


class FreightMeta(ObjectMeta):
    """Freight metadata: the name may be left out, it is then derived from the artifacts."""

    name: str | None = Field(default=None, min_length=1, max_length=253)  # type: ignore[assignment]


class ExpressionVariable(KargoModel):
    """`vars[]` entry. An empty or missing value on a task var means the caller must set it."""

    name: str = Field(min_length=1, pattern=r"^[a-zA-Z_]\w*$")
    value: ScalarText | None = None


class FreightOrigin(KargoModel):
    kind: Literal["Warehouse"] = "Warehouse"
    name: str = Field(min_length=1)


# ---------------------------------------------------------------------------
# Project, ProjectConfig
# ---------------------------------------------------------------------------


class Project(KargoModel):
    """Cluster-scoped; its name is the namespace every other document of the project uses."""

    KARGO_DIFFERENCES = (
        "not required before its namespace is used: a Gantry project is a name; applying a Project records it",
    )

    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["Project"] = "Project"
    metadata: ObjectMeta
    status: dict[str, Any] | None = None


class StageSelector(KargoModel):
    """Picks Stages by name (exact, ``regex:``/``regexp:``, ``glob:``) AND by labels
    (``matchLabels`` and ``matchExpressions``, a Kubernetes label selector inlined)."""

    name: Annotated[str | None, AfterValidator(lambda v: v if v is None else check_name_pattern(v))] = None
    match_labels: Annotated[dict[str, str] | None, AfterValidator(check_labels)] = None
    match_expressions: list[LabelRequirement] | None = None

    def labels(self) -> LabelSelector:
        return LabelSelector(
            match_labels=self.match_labels or {}, match_expressions=self.match_expressions or []
        )


class AutoRollback(KargoModel):
    on_promotion: list[str] = Field(default_factory=list)
    on_verification: list[str] = Field(default_factory=list)


class PromotionPolicy(KargoModel):
    stage: str | None = Field(default=None, description="deprecated: use stageSelector")
    stage_selector: StageSelector | None = None
    auto_promotion_enabled: bool = False
    auto_rollback: AutoRollback | None = None

    @field_validator("auto_rollback")
    @classmethod
    def _no_auto_rollback(cls, value: AutoRollback | None) -> AutoRollback | None:
        # parsed so that the refusal names it; accepted, it would be silently ignored
        if value is not None:
            raise ValueError("'autoRollback' is not supported by Gantry yet (roll back with gantry promote --rollback)")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> PromotionPolicy:
        if (self.stage is None) == (self.stage_selector is None):
            raise ValueError("a promotion policy needs exactly one of stage or stageSelector")
        return self


class GarbageCollection(KargoModel):
    """Gantry's extension: this project's garbage collection (Kargo sets it per controller).
    Unset fields take the worker's settings (docs/architecture.md, "Garbage collection")."""

    max_retained_freight: int | None = Field(default=None, ge=0)
    min_freight_deletion_age: Duration | None = None
    max_retained_promotions: int | None = Field(default=None, ge=0)
    min_promotion_deletion_age: Duration | None = None


class ProjectConfigSpec(KargoModel):
    promotion_policies: list[PromotionPolicy] = Field(default_factory=list)
    garbage_collection: GarbageCollection | None = None
    webhook_receivers: list[dict[str, Any]] = Field(default_factory=list)
    freight_links: list[dict[str, Any]] = Field(default_factory=list)
    stage_links: list[dict[str, Any]] = Field(default_factory=list)
    promotion_windows: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_duplicate_names(self) -> ProjectConfigSpec:
        """Two policies for one exact Stage name: Kargo refuses the second (first wins)."""
        first: dict[str, int] = {}
        for i, policy in enumerate(self.promotion_policies):
            name = policy.stage if policy.stage_selector is None else policy.stage_selector.name
            if not name or ":" in name:
                continue
            if name in first:
                raise ValueError(
                    f"promotionPolicies[{i}]: stage name {name!r} already has a policy at promotionPolicies[{first[name]}]"
                )
            first[name] = i
        return self


class ProjectConfig(KargoModel):
    """Per-project settings; Kargo requires its name to equal the project's."""

    KARGO_DIFFERENCES = (
        "`promotionPolicies[].autoRollback` is refused (roll back with `gantry promote --rollback`)",
        "`spec.garbageCollection` is Gantry's: this project's Freight and Promotion retention (Kargo sets it per controller)",
    )

    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["ProjectConfig"] = "ProjectConfig"
    metadata: ObjectMeta
    spec: ProjectConfigSpec = Field(default_factory=ProjectConfigSpec)
    status: dict[str, Any] | None = None


# ---------------------------------------------------------------------------
# Warehouse
# ---------------------------------------------------------------------------


class ImageSubscription(KargoModel):
    repo_url: str = Field(alias="repoURL", min_length=1)
    image_selection_strategy: Literal["SemVer", "Lexical", "Digest", "NewestBuild"] = "SemVer"
    constraint: str | None = None
    allow_tags: str | None = Field(default=None, description="deprecated: allowTagsRegexes")
    allow_tags_regexes: list[str] = Field(default_factory=list)
    ignore_tags: list[str] = Field(default_factory=list, description="deprecated")
    ignore_tags_regexes: list[str] = Field(default_factory=list)
    strict_semvers: bool = True
    platform: str | None = None
    discovery_limit: int = Field(default=20, ge=1, le=100)
    cache_by_tag: bool = False
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")


class GitSubscription(KargoModel):
    repo_url: str = Field(alias="repoURL", min_length=1)
    commit_selection_strategy: Literal["NewestFromBranch", "SemVer", "Lexical", "NewestTag"] = (
        "NewestFromBranch"
    )
    branch: str | None = None
    semver_constraint: str | None = None
    allow_tags: str | None = Field(default=None, description="deprecated: allowTagsRegexes")
    allow_tags_regexes: list[str] = Field(default_factory=list)
    ignore_tags: list[str] = Field(default_factory=list, description="deprecated")
    ignore_tags_regexes: list[str] = Field(default_factory=list)
    expression_filter: str | None = None
    include_paths: list[str] = Field(default_factory=list)
    exclude_paths: list[str] = Field(default_factory=list)
    since: datetime | None = None
    strict_semvers: bool = True
    discovery_limit: int = Field(default=20, ge=1, le=100)
    blobless: bool | None = None
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")


class ChartSubscription(KargoModel):
    repo_url: str = Field(alias="repoURL", min_length=1)
    name: str | None = Field(default=None, description="required for http(s) chart repositories")
    semver_constraint: str | None = None
    discovery_limit: int = Field(default=20, ge=1, le=100)
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")


class GenericSubscription(KargoModel):
    """Kargo's pluggable subscription (`subscription: {subscriptionType, config}`)."""

    subscription_type: str = Field(min_length=1)
    config: dict[str, Any] | None = None
    discovery_limit: int = Field(default=20, ge=1, le=100)


class RepoSubscription(KargoModel):
    """One subscription: exactly one of image, git, chart or subscription."""

    name: str | None = None
    image: ImageSubscription | None = None
    git: GitSubscription | None = None
    chart: ChartSubscription | None = None
    subscription: GenericSubscription | None = None

    @field_validator("subscription")
    @classmethod
    def _no_generic(cls, value: GenericSubscription | None) -> GenericSubscription | None:
        """Kargo runs a generic subscription only through a subscriber registered for its
        type, and its open-source build registers none: Gantry refuses it rather than fail
        every discovery pass."""
        if value is not None:
            raise ValueError(
                f"generic subscriptions (subscriptionType {value.subscription_type!r}) are not supported: "
                "no subscriber exists for them; use an image, git or chart subscription"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> RepoSubscription:
        set_ = [k for k in ("image", "git", "chart", "subscription") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError(
                "a subscription needs exactly one of image, git, chart or subscription"
                + (f" (found {', '.join(set_)})" if set_ else "")
            )
        return self


class FreightCreationCriteria(KargoModel):
    expression: str | None = None


class WarehouseSpec(KargoModel):
    shard: str | None = None
    interval: Duration = "5m0s"
    freight_creation_policy: Literal["Automatic", "Manual"] = "Automatic"
    freight_creation_criteria: FreightCreationCriteria | None = None
    subscriptions: list[RepoSubscription] = Field(min_length=1)


class Warehouse(KargoModel):
    KARGO_DIFFERENCES = (
        "generic `subscription:` entries are refused: Kargo's open-source build registers no subscriber for them",
    )

    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["Warehouse"] = "Warehouse"
    metadata: ObjectMeta
    spec: WarehouseSpec
    status: dict[str, Any] | None = None


# ---------------------------------------------------------------------------
# Freight
# ---------------------------------------------------------------------------


class GitCommit(KargoModel):
    repo_url: str | None = Field(default=None, alias="repoURL")
    id: str | None = None
    branch: str | None = None
    tag: str | None = None
    message: str | None = None
    author: str | None = None
    committer: str | None = None
    subscription_name: str | None = None


class Image(KargoModel):
    repo_url: str | None = Field(default=None, alias="repoURL")
    tag: str | None = None
    digest: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)


class Chart(KargoModel):
    repo_url: str | None = Field(default=None, alias="repoURL")
    name: str | None = None
    version: str | None = None


class ArtifactReference(KargoModel):
    artifact_type: str | None = None
    subscription_name: str
    version: str
    metadata: dict[str, Any] | None = None


class CurrentStage(KargoModel):
    since: datetime | None = None


class VerifiedStage(KargoModel):
    verified_at: datetime | None = None
    longest_soak: Duration | None = None


class ApprovedStage(KargoModel):
    approved_at: datetime | None = None


class FreightStatus(KargoModel):
    """Where the Freight is, where it was verified, which Stages it is approved for."""

    currently_in: dict[str, CurrentStage] = Field(default_factory=dict)
    verified_in: dict[str, VerifiedStage] = Field(default_factory=dict)
    approved_for: dict[str, ApprovedStage] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Freight(KargoModel):
    """A set of artifact versions from one Warehouse. Kept in the freight catalog, not in
    the ManifestSet; modelled so that `apply` can hand Freight documents over."""

    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["Freight"] = "Freight"
    metadata: FreightMeta
    alias: str | None = None
    discovered_at: datetime | None = None
    origin: FreightOrigin
    commits: list[GitCommit] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    charts: list[Chart] = Field(default_factory=list)
    artifacts: list[ArtifactReference] = Field(default_factory=list)
    status: FreightStatus = Field(default_factory=FreightStatus)


# ---------------------------------------------------------------------------
# Promotion steps and tasks
# ---------------------------------------------------------------------------


class PromotionTaskReference(KargoModel):
    name: str = Field(min_length=1, max_length=253, pattern=_NAME_PATTERN)
    kind: Literal["PromotionTask", "ClusterPromotionTask"] = "PromotionTask"


class PromotionStepRetry(KargoModel):
    timeout: Duration | None = None
    error_threshold: int | None = Field(default=None, ge=0)


class PromotionStep(KargoModel):
    """One step: runs a built-in step (`uses`) or inlines a PromotionTask (`task`).

    "Exactly one of uses/task" and the other cross-field rules are checked by
    `validate_set`, so that every problem of a file is reported at once.
    """

    uses: str | None = Field(default=None, min_length=1)
    task: PromotionTaskReference | None = None
    as_: str | None = Field(default=None, alias="as")
    if_: str | None = Field(default=None, alias="if")
    continue_on_error: bool = False
    retry: PromotionStepRetry | None = None
    vars: list[ExpressionVariable] = Field(default_factory=list)
    config: dict[str, Any] | None = None


class PromotionTaskSpec(KargoModel):
    vars: list[ExpressionVariable] = Field(default_factory=list)
    steps: list[PromotionStep] = Field(min_length=1)


class PromotionTask(KargoModel):
    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["PromotionTask"] = "PromotionTask"
    metadata: ObjectMeta
    spec: PromotionTaskSpec


class ClusterPromotionTask(KargoModel):
    """A PromotionTask every project can use (cluster-scoped)."""

    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["ClusterPromotionTask"] = "ClusterPromotionTask"
    metadata: ObjectMeta
    spec: PromotionTaskSpec


# ---------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------


class AutoPromotionOptions(KargoModel):
    selection_policy: Literal["NewestFreight", "MatchUpstream"] = "NewestFreight"


class FreightSources(KargoModel):
    direct: bool = False
    stages: list[str] = Field(default_factory=list)
    required_soak_time: Duration | None = None
    availability_strategy: Literal["All", "OneOf", ""] | None = None
    auto_promotion_options: AutoPromotionOptions | None = None

    @model_validator(mode="after")
    def _match_upstream_has_one_upstream(self) -> FreightSources:
        """Kargo's Stage webhook: MatchUpstream follows exactly one upstream Stage."""
        if self.auto_promotion_options and self.auto_promotion_options.selection_policy == "MatchUpstream":
            if self.direct:
                raise ValueError(
                    "autoPromotionOptions.selectionPolicy: MatchUpstream cannot be used when accepting Freight directly from its origin"
                )
            if len(self.stages) != 1:
                raise ValueError("autoPromotionOptions.selectionPolicy: MatchUpstream needs exactly one upstream Stage in stages")
        return self


class FreightRequest(KargoModel):
    origin: FreightOrigin
    sources: FreightSources


class PromotionTemplateSpec(KargoModel):
    vars: list[ExpressionVariable] = Field(default_factory=list)
    steps: list[PromotionStep] = Field(default_factory=list)


class PromotionTemplate(KargoModel):
    spec: PromotionTemplateSpec


class AnalysisTemplateReference(KargoModel):
    name: str = Field(min_length=1)
    kind: Literal["AnalysisTemplate", "ClusterAnalysisTemplate"] = "AnalysisTemplate"


class AnalysisRunMetadata(KargoModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class AnalysisRunArgument(KargoModel):
    name: str = Field(min_length=1)
    value: ScalarText


class Verification(KargoModel):
    analysis_templates: list[AnalysisTemplateReference] = Field(default_factory=list)
    analysis_run_metadata: AnalysisRunMetadata | None = None
    args: list[AnalysisRunArgument] = Field(default_factory=list)


class StageSpec(KargoModel):
    shard: str | None = None
    vars: list[ExpressionVariable] = Field(default_factory=list)
    requested_freight: list[FreightRequest] = Field(min_length=1)
    promotion_template: PromotionTemplate | None = None
    verification: Verification | None = None
    targets: dict[str, Any] | None = None


class Stage(KargoModel):
    """An environment Freight is promoted to. No steps = a control-flow Stage."""

    KARGO_DIFFERENCES = (
        "`requiredSoakTime` counts from when the Freight was verified upstream (Kargo's code: from when it entered)",
    )

    api_version: Literal["kargo.akuity.io/v1alpha1"] = KARGO_API
    kind: Literal["Stage"] = "Stage"
    metadata: ObjectMeta
    spec: StageSpec
    status: dict[str, Any] | None = None

    @property
    def steps(self) -> list[PromotionStep]:
        """The promotion template's steps (empty for a control-flow Stage)."""
        pt = self.spec.promotion_template
        return pt.spec.steps if pt is not None else []


# ---------------------------------------------------------------------------
# AnalysisTemplate, ClusterAnalysisTemplate (argoproj.io/v1alpha1)
# ---------------------------------------------------------------------------


class SecretKeyRef(KargoModel):
    name: str
    key: str


class FieldRef(KargoModel):
    field_path: str


class ValueFrom(KargoModel):
    secret_key_ref: SecretKeyRef | None = None
    field_ref: FieldRef | None = None


class Argument(KargoModel):
    """A template argument; with neither value nor valueFrom the Stage must supply it."""

    name: str = Field(min_length=1)
    value: ScalarText | None = None
    value_from: ValueFrom | None = None


class WebMetricHeader(KargoModel):
    key: str
    value: str


class PrometheusRangeQuery(KargoModel):
    start: str | None = None
    end: str | None = None
    step: TemplateDuration | None = None


class PrometheusProvider(KargoModel):
    address: str | None = None
    query: str | None = None
    authentication: dict[str, Any] | None = None
    timeout: int | None = None
    insecure: bool = False
    headers: list[WebMetricHeader] = Field(default_factory=list)
    range_query: PrometheusRangeQuery | None = None


class WebProvider(KargoModel):
    method: Literal["GET", "POST", "PUT"] | None = None
    url: str
    headers: list[WebMetricHeader] = Field(default_factory=list)
    body: str | None = None
    json_body: Any = None
    timeout_seconds: int | None = None
    json_path: str | None = None
    insecure: bool = False
    authentication: dict[str, Any] | None = None


class JobProvider(KargoModel):
    """A Kubernetes Job; its spec is kept as given (batch/v1 JobSpec)."""

    metadata: dict[str, Any] | None = None
    spec: dict[str, Any]


PROVIDER_FIELDS = (
    "prometheus",
    "web",
    "job",
    "kayenta",
    "datadog",
    "wavefront",
    "new_relic",
    "cloud_watch",
    "graphite",
    "influxdb",
    "skywalking",
    "plugin",
)


class MetricProvider(KargoModel):
    """Exactly one provider. Those Gantry does not model are kept as free dicts."""

    prometheus: PrometheusProvider | None = None
    web: WebProvider | None = None
    job: JobProvider | None = None
    kayenta: dict[str, Any] | None = None
    datadog: dict[str, Any] | None = None
    wavefront: dict[str, Any] | None = None
    new_relic: dict[str, Any] | None = None
    cloud_watch: dict[str, Any] | None = None
    graphite: dict[str, Any] | None = None
    influxdb: dict[str, Any] | None = None
    skywalking: dict[str, Any] | None = Field(default=None, alias="skywalking")
    plugin: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MetricProvider:
        set_ = [f for f in PROVIDER_FIELDS if getattr(self, f) is not None]
        if len(set_) != 1:
            names = ", ".join(MetricProvider.model_fields[f].alias or f for f in PROVIDER_FIELDS)
            raise ValueError(
                f"a metric provider needs exactly one of {names}"
                + (f" (found {len(set_)})" if set_ else "")
            )
        return self

    @property
    def kind(self) -> str:
        """The provider's YAML key (``prometheus``, ``job``...)."""
        for f in PROVIDER_FIELDS:
            if getattr(self, f) is not None:
                return MetricProvider.model_fields[f].alias or f
        return ""


class Metric(KargoModel):
    name: str = Field(min_length=1)
    interval: TemplateDuration | None = None
    initial_delay: TemplateDuration | None = None
    count: IntOrString | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: IntOrString | None = None
    inconclusive_limit: IntOrString | None = None
    consecutive_error_limit: IntOrString | None = None
    consecutive_success_limit: IntOrString | None = None
    provider: MetricProvider


class DryRun(KargoModel):
    metric_name: str


class MeasurementRetention(KargoModel):
    metric_name: str
    limit: int


class AnalysisTemplateRef(KargoModel):
    template_name: str
    cluster_scope: bool = False


class AnalysisTemplateSpec(KargoModel):
    metrics: list[Metric] = Field(default_factory=list)
    args: list[Argument] = Field(default_factory=list)
    dry_run: list[DryRun] = Field(default_factory=list)
    measurement_retention: list[MeasurementRetention] = Field(default_factory=list)
    templates: list[AnalysisTemplateRef] = Field(default_factory=list)


#: how Gantry's analysis differs from Argo Rollouts' and Kargo's (both template kinds)
ANALYSIS_DIFFERENCES = (
    "every measurement is kept (Argo keeps 10); an aborted verification is Failed (Kargo's rule)",
    "a `count` or limit that is not a whole number after args are substituted is an error (Argo reads 0)",
    "`spec.templates` (templates including templates) is refused at `validate`: name each template in the Stage's verification",
    "metric providers other than prometheus, web and job are refused at `validate`",
)


class AnalysisTemplate(KargoModel):
    KARGO_DIFFERENCES = ANALYSIS_DIFFERENCES

    api_version: Literal["argoproj.io/v1alpha1"] = ARGO_API
    kind: Literal["AnalysisTemplate"] = "AnalysisTemplate"
    metadata: ObjectMeta
    spec: AnalysisTemplateSpec


class ClusterAnalysisTemplate(KargoModel):
    """An AnalysisTemplate every project can use (cluster-scoped)."""

    KARGO_DIFFERENCES = ANALYSIS_DIFFERENCES

    api_version: Literal["argoproj.io/v1alpha1"] = ARGO_API
    kind: Literal["ClusterAnalysisTemplate"] = "ClusterAnalysisTemplate"
    metadata: ObjectMeta
    spec: AnalysisTemplateSpec


# ---------------------------------------------------------------------------
# ConfigMap (Kubernetes core/v1): data for the configMap() and sharedConfigMap() functions
# ---------------------------------------------------------------------------

#: the namespace whose ConfigMaps sharedConfigMap() reads (Kargo's SHARED_RESOURCES_NAMESPACE
#: default); a ConfigMap applied there belongs to no project
SHARED_RESOURCES_NAMESPACE = "kargo-shared-resources"
#: the most a ConfigMap's data may hold (keys and values, UTF-8): a promotion carries the
#: ConfigMaps its templates read in its history, so each is kept small
CONFIG_MAP_DATA_LIMIT = 64 * 1024


def _check_config_data(data: dict[str, str]) -> dict[str, str]:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
    if size > CONFIG_MAP_DATA_LIMIT:
        raise ValueError(
            f"data takes {size} bytes; Gantry keeps a ConfigMap under {CONFIG_MAP_DATA_LIMIT} bytes "
            "(promotions carry the ConfigMaps they read in their history)"
        )
    for key in data:
        if not key or not all(c.isalnum() or c in "-._" for c in key):
            raise ValueError(f"key {key!r}: a ConfigMap key is made of letters, digits, '-', '_' and '.'")
    return data


class ConfigMap(KargoModel):
    """A Kubernetes ConfigMap: string data a project's templates read with configMap(name);
    in namespace kargo-shared-resources, every project's with sharedConfigMap(name)."""

    KARGO_DIFFERENCES = (
        "`data` holds at most 64 KB (Kubernetes: 1 MiB): a promotion carries the ConfigMaps it reads in its history",
        "`binaryData` is refused",
    )

    api_version: Literal["v1"] = "v1"
    kind: Literal["ConfigMap"] = "ConfigMap"
    metadata: ObjectMeta
    data: Annotated[dict[str, str], AfterValidator(_check_config_data)] = Field(default_factory=dict)
    immutable: bool | None = None


# ---------------------------------------------------------------------------
# The union and the kind table
# ---------------------------------------------------------------------------

#: Any document Gantry reads, told apart by `kind`.
Manifest = Annotated[
    Union[
        Project,
        ProjectConfig,
        Warehouse,
        Freight,
        Stage,
        PromotionTask,
        ClusterPromotionTask,
        AnalysisTemplate,
        ClusterAnalysisTemplate,
        ConfigMap,
    ],
    Field(discriminator="kind"),
]

#: kind -> model class; the apiVersion each needs is the model's default api_version.
MODELS: dict[str, type[KargoModel]] = {
    m.model_fields["kind"].default: m
    for m in (
        Project,
        ProjectConfig,
        Warehouse,
        Freight,
        Stage,
        PromotionTask,
        ClusterPromotionTask,
        AnalysisTemplate,
        ClusterAnalysisTemplate,
        ConfigMap,
    )
}

#: Kargo's other kinds, which Gantry does not take as documents, and what stands in for them.
KARGO_KINDS_NOT_APPLIED: dict[str, str] = {
    "Promotion": "created by `gantry promote` (and by auto-promotion), never applied",
    "Secret": "credentials live in the worker's credentials file (`secret()`, repository credentials)",
    "ClusterConfig": "cluster-wide settings are the worker's options",
    "AnalysisRun": "created by a Stage's verification, never applied",
}

#: Kinds that live outside any project.
CLUSTER_SCOPED: frozenset[str] = frozenset({"Project", "ClusterPromotionTask", "ClusterAnalysisTemplate"})


def api_version_of(kind: str) -> str:
    """The apiVersion a kind must carry."""
    return MODELS[kind].model_fields["api_version"].default


__all__ = [
    "KARGO_API", "ARGO_API", "KargoModel", "Duration", "TemplateDuration", "IntOrString",
    "ObjectMeta", "FreightMeta", "ExpressionVariable", "FreightOrigin",
    "Project", "StageSelector", "AutoRollback", "PromotionPolicy", "ProjectConfigSpec",
    "ProjectConfig", "ImageSubscription", "GitSubscription", "ChartSubscription",
    "GenericSubscription", "RepoSubscription", "FreightCreationCriteria", "WarehouseSpec",
    "Warehouse", "GitCommit", "Image", "Chart", "ArtifactReference", "CurrentStage",
    "VerifiedStage", "ApprovedStage", "FreightStatus", "Freight", "PromotionTaskReference",
    "PromotionStepRetry", "PromotionStep", "PromotionTaskSpec", "PromotionTask",
    "ClusterPromotionTask", "AutoPromotionOptions", "FreightSources", "FreightRequest",
    "PromotionTemplateSpec", "PromotionTemplate", "AnalysisTemplateReference",
    "AnalysisRunMetadata", "AnalysisRunArgument", "Verification", "StageSpec", "Stage",
    "SecretKeyRef", "FieldRef", "ValueFrom", "Argument", "WebMetricHeader",
    "PrometheusRangeQuery", "PrometheusProvider", "WebProvider", "JobProvider",
    "PROVIDER_FIELDS", "MetricProvider", "Metric", "DryRun", "MeasurementRetention",
    "AnalysisTemplateRef", "AnalysisTemplateSpec", "AnalysisTemplate",
    "ClusterAnalysisTemplate", "ConfigMap", "SHARED_RESOURCES_NAMESPACE", "CONFIG_MAP_DATA_LIMIT",
    "Manifest", "MODELS", "CLUSTER_SCOPED", "api_version_of",
]
