"""Inputs and results of Gantry's workflows: plain pydantic models, so JSON typed into
`temporal workflow start --input '...'` validates exactly like a call from our CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.expressions.data import PromotionData
from pipeline.deletion import ObjectRef
from pipeline.freight import FreightChange, StageVisit
from pipeline.promotion_plan import PlannedStep

PromotionPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Errored", "Aborted"]
StepPhase = Literal["Pending", "Running", "Succeeded", "Skipped", "Failed", "Errored", "Aborted"]


class PromotionOptions(BaseModel):
    """Operational knobs; the defaults suit production, tests shorten them."""

    model_config = ConfigDict(extra="forbid")

    # Chosen by bench/chaos.py (docs/architecture.md "Durability"): steps heartbeat every 2 s
    # and workers send each heartbeat on (client/worker.py), so 10 s is 5 missed heartbeats;
    # a worker restarted on the same disk then resumes a step within about 13 s (30 s before),
    # and a promotion whose worker is gone for good moves within about 40 s (150 s before).
    step_heartbeat_timeout: timedelta = Field(
        default=timedelta(seconds=10), description="how soon a step on a dead worker is noticed"
    )
    worker_wait_timeout: timedelta = Field(
        default=timedelta(seconds=25),
        description="how long a step waits for the worker holding the working directory before "
        "the promotion moves to another worker and starts its steps again",
    )
    step_timeout: timedelta = Field(default=timedelta(hours=1), description="longest a single step may run")
    max_restarts: int = Field(default=5, description="how often the steps may start again on another worker")
    health_timeout: timedelta = Field(
        default=timedelta(minutes=10), description="how long Argo CD applications may take to become Healthy"
    )


class PromotionRequest(BaseModel):
    """Promote one Freight to one Stage. `freight` is a Freight name or alias."""

    model_config = ConfigDict(extra="forbid")

    project: str
    stage: str
    freight: str
    actor: str | None = None
    dry_run: bool = Field(default=False, description="render, run file steps in a scratch clone, push nothing")
    wait_for_soak: bool = Field(default=False, description="wait (durable timer) instead of failing while soaking")
    auto: bool = Field(default=False, description="started by auto-promotion")
    verify_only: bool = Field(default=False, description="run no steps: verify the Stage's current Freight again")
    queued: bool = Field(default=False, description="the starter already reserved this promotion's place in the stage lock queue")
    rollback: bool = Field(  # left out when false: workers of the previous code forbid unknown fields
        default=False,
        description="a rollback to earlier Freight (Kargo's kargo.akuity.io/rollback annotation): ctx.meta.promotion.rollback",
        exclude_if=lambda v: not v,
    )
    options: PromotionOptions = Field(default_factory=PromotionOptions)


class StepExecution(BaseModel):
    """What happened to one step, as Kargo's stepExecutionMetadata records it."""

    alias: str
    uses: str
    status: StepPhase = "Pending"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_count: int = 0
    message: str = ""
    summary: str = ""
    continue_on_error: bool = False
    config: dict[str, Any] | None = Field(default=None, description="rendered config (dry runs only)")


class PromotionStatus(BaseModel):
    """The live and final state of a promotion (query `status`, and the workflow result)."""

    name: str
    project: str
    stage: str
    freight: str
    freight_alias: str = ""
    actor: str | None = None
    phase: PromotionPhase = "Pending"
    message: str = ""
    current_step: int | None = None
    steps: list[StepExecution] = Field(default_factory=list)
    state: dict[str, dict[str, Any]] = Field(default_factory=dict, description="step outputs by alias")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_queue: str | None = None
    restarts: int = 0
    dry_run: bool = False
    diff: str = Field(default="", description="what the steps changed in the working directory (dry runs)")
    health: str = Field(default="", description="Argo CD health of the applications the promotion updated")
    verification: str = Field(default="", description="how verification went")
    verified_at: datetime | None = None
    verification_id: str | None = None


class PromotionContext(BaseModel):
    """Everything a promotion needs from the project catalog, read once at its start.

    The project answers with the template as written (`template_steps`) and the
    PromotionTasks it references; the catalog activity adds the ClusterPromotionTasks and
    inflates the tasks into `steps`.
    """

    freight: dict[str, Any]
    stage_vars: list[dict[str, Any]] = Field(default_factory=list)
    template_vars: list[dict[str, Any]] = Field(default_factory=list)
    stage: dict[str, Any] = Field(default_factory=dict, description="the Stage manifest")
    template_steps: list[dict[str, Any]] = Field(default_factory=list, description="Kargo PromotionStep documents")
    tasks: dict[str, dict[str, Any]] = Field(default_factory=dict, description='"Kind/name" -> task document')
    analysis_templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='"Kind/name" -> (Cluster)AnalysisTemplate the Stage verifies with'
    )
    steps: list[PlannedStep] = Field(default_factory=list, description="the steps to run, tasks inflated")
    newest_of_origin: bool | None = Field(
        default=None, description="no newer Freight of its Warehouse exists (Kargo's holds); None: not known"
    )
    stored: bool = Field(default=False, description="the Freight is a FreightWorkflow (not in a catalog of old)")
    data: PromotionData = Field(
        default_factory=PromotionData, description="what stageMetadata(), configMap() & co. read (only what templates name)"
    )


class PromotionContextRequest(BaseModel):
    project: str
    stage: str
    freight: str
    record: dict[str, Any] | None = Field(
        default=None, description="the Freight, when the caller found it (FreightWorkflows); else the project looks"
    )
    #: an auto-promotion or a re-verification: it sets no hold, so whether newer Freight
    #: exists (a visibility query) is not asked
    holds_unchanged: bool = False


class PromotionFinished(BaseModel):
    """Signal from a promotion to its project: where Freight now is."""

    promotion: str
    stage: str
    freight: str
    phase: PromotionPhase
    finished_at: datetime
    verified_at: datetime | None = Field(default=None, description="set when the Freight was verified in the Stage")
    actor: str | None = None
    auto: bool = False
    verify_only: bool = False
    verification: dict[str, Any] | None = Field(default=None, description="the verification run, if one ran")
    origin: str = Field(default="", description="the Freight's Warehouse")
    freight_alias: str = ""
    newest_of_origin: bool | None = Field(default=None, description="as the promotion's context said")
    freight_recorded: bool = Field(default=False, description="the promotion recorded entered/verified on the Freight itself")
    stage_recorded: bool = Field(default=False, description="the Stage's workflow keeps this in its history")


class ApplyRequest(BaseModel):
    """Manifests for one project (or for the cluster scope), as parsed documents.

    The workflow validates them again, merged with what it already holds, so that the
    same rules hold whoever calls the update.
    """

    documents: list[dict[str, Any]] = Field(description="SourceDocument objects: file, index, line, data")
    default_project: str | None = None
    cluster: dict[str, Any] | None = Field(
        default=None, description="the cluster-scoped manifests (a ManifestSet) that references may use"
    )
    prune: bool = Field(default=False, description="also delete the project's objects these documents do not name")


class DeleteRequest(BaseModel):
    """Objects to delete from one project (or from the cluster scope); a Project target deletes
    the whole project. Refused, naming them, when objects that stay still reference them."""

    targets: list[ObjectRef]
    ignore_not_found: bool = False


class DeleteResult(BaseModel):
    results: list[str] = Field(default_factory=list, description='e.g. "stage/uat deleted"')


class ApplyResult(BaseModel):
    results: list[str] = Field(default_factory=list, description='e.g. "stage/uat created"')


class FreightChangeRequest(BaseModel):
    """Changes to one Freight of a project, made in order (the `change_freight` activity)."""

    project: str
    freight: str = Field(description="name or alias")
    changes: list[FreightChange]
    missing_ok: bool = Field(default=False, description="a Freight that is gone (collected) is no error")


class NewFreight(BaseModel):
    """Freight to create in a project (the `store_freight` activity): flattened, as FreightCreate."""

    project: str
    freight: dict[str, Any]


class WarehouseRef(BaseModel):
    """One Warehouse of a project (`load_warehouse`)."""

    project: str
    warehouse: str


class WakeWarehouses(BaseModel):
    """Warehouses of a project to start, or to look again now (`wake_warehouses`)."""

    project: str
    warehouses: list[str]


class ProjectRef(BaseModel):
    """A whole project (`end_project_freight`)."""

    project: str


class StageRef(BaseModel):
    """One Stage of a project (`forget_stage_in_freight`)."""

    project: str
    stage: str


class FreightImport(BaseModel):
    """Freight of a project's catalog of old, to become FreightWorkflows (`import_freight`)."""

    project: str
    records: list[dict[str, Any]]


class GarbageRequest(BaseModel):
    """Collect one Warehouse's old Freight (the `collect_garbage` activity)."""

    project: str
    warehouse: str


class GarbageReport(BaseModel):
    collected: list[str] = Field(default_factory=list)
    kept: int = 0
    message: str = ""


class FreightCreate(BaseModel):
    """New Freight, flattened: origin, images, commits, charts and optionally alias/name."""

    freight: dict[str, Any]


class StageView(BaseModel):
    """A Stage as `gantry get stages` shows it."""

    name: str
    freight: str | None = None
    freight_alias: str | None = None
    since: datetime | None = None
    promotion: str | None = None
    upstream: list[str] = Field(default_factory=list)
    direct: bool = False
    steps: int = 0
    verification: bool = False


class LockRequest(BaseModel):
    """A promotion's place in its Stage's lock queue; waiters are served in arrival order.

    `ready` False is a reservation: `gantry promote` takes the place before it starts the
    workflow, so promotions requested one after another are served in that order even when
    a later one reaches its own `acquire` first. The head of the queue is granted only once
    its promotion has asked itself (ready)."""

    promotion: str
    requested_at: datetime
    ready: bool = True


class StageHistory(BaseModel):
    """A Stage's Freight history and verification runs, newest first (StageWorkflow `history`)."""

    visits: list[StageVisit] = Field(default_factory=list)
    verifications: list[dict[str, Any]] = Field(default_factory=list)


class StageLockView(BaseModel):
    holder: str | None = None
    granted_at: datetime | None = None
    queue: list[str] = Field(default_factory=list)
    pending: dict[str, datetime] = Field(default_factory=dict, description="freight -> soak end (auto-promotions)")
    served: int = 0


class UpstreamVerified(BaseModel):
    """Freight verified upstream; `soak_until` is when it becomes available here."""

    freight: str
    upstream: str
    verified_at: datetime
    soak_until: datetime
    #: the request's selectionPolicy is MatchUpstream: follow the upstream Stage, even back
    #: to Freight auto-promoted here before
    match_upstream: bool = False


class AutoPromotion(BaseModel):
    project: str
    stage: str
    freight: str
    upstream: str = ""
    #: MatchUpstream: promote only while the Freight is current in `upstream`
    match_upstream: bool = False
    #: when the Freight was verified upstream: tells one MatchUpstream promotion from the next
    verified_at: datetime | None = None


class DownstreamRequest(BaseModel):
    """Which Stages to tell of Freight of `origin` available from `upstream` ("" = new Freight)?"""

    origin: str
    upstream: str = ""


class AutoPromotionQuery(BaseModel):
    stage: str
    origin: str


class AutoPromotionState(BaseModel):
    """A Stage's auto-promotion for one origin: `exists` False when the Stage is gone."""

    exists: bool
    enabled: bool = False
    held: bool = False


class StageLockRequest(BaseModel):
    project: str
    stage: str
    request: LockRequest
    #: ask with the Stage's `acquire_now` update, whose answer says whether the lock is ours
    #: already (then no `lock_granted` signal comes); only promotions that read the answer
    #: set it (patch gantry-promotion-lock-in-answer), older ones wait for the signal
    answer: bool = False


class FreightVerified(BaseModel):
    project: str
    stage: str
    freight: str
    verified_at: datetime


class DiscoveryRequest(BaseModel):
    """Discover the artifacts of one Warehouse subscription (see activities/discovery)."""

    project: str
    warehouse: str
    kind: Literal["image", "git", "chart"]
    #: the subscription's fields as written in YAML (repoURL, imageSelectionStrategy, ...)
    subscription: dict[str, Any]
