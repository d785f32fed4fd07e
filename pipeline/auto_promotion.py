"""Is auto-promotion on for a Stage? ProjectConfig `promotionPolicies`, first match wins.

A policy names its Stage with `stage` (deprecated: an exact name) or `stageSelector`, whose
`name` (exact, `regex:`/`regexp:` or `glob:`) and label selector (`matchLabels`,
`matchExpressions`) must all match, as Kargo's `findMatchingPromotionPolicy` reads them.

Which Freight: a request's `autoPromotionOptions.selectionPolicy` is NewestFreight (each
Freight as it becomes available) or MatchUpstream (the Freight its one upstream Stage has
now, followed back too when the upstream goes back to older Freight).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from pipeline.availability import freight_availability
from pipeline.durations import parse_duration, parse_time
from pipeline.manifests import ProjectConfig, Stage
from pipeline.manifests.models import FreightRequest
from pipeline.manifests.manifest_set import ProjectManifests
from pipeline.selectors import name_matcher


def policy_for(config: ProjectConfig | None, stage: Stage) -> int | None:
    """The index of the promotion policy that decides for `stage` (the first that selects
    it), or None when none does."""
    if config is None:
        return None
    name = stage.metadata.name
    for i, policy in enumerate(config.spec.promotion_policies):
        selector = policy.stage_selector
        if selector is None:
            matched = policy.stage == name
        else:
            matched = (selector.name is None or name_matcher(selector.name)(name)) and selector.labels().matches(
                stage.metadata.labels
            )
        if matched:
            return i
    return None


def auto_promotion_enabled(config: ProjectConfig | None, stage: Stage) -> bool:
    i = policy_for(config, stage)
    return config is not None and i is not None and config.spec.promotion_policies[i].auto_promotion_enabled


def _matches_upstream(request: FreightRequest) -> bool:
    options = request.sources.auto_promotion_options
    return options is not None and options.selection_policy == "MatchUpstream"


class DownstreamStage(BaseModel):
    """A Stage to tell that Freight became available to it, and how long it must soak first."""

    stage: str
    soak: timedelta = timedelta(0)
    #: `autoPromotionOptions.selectionPolicy: MatchUpstream` on the request
    match_upstream: bool = False


def stages_to_tell(project: ProjectManifests, origin: str, upstream: str) -> list[DownstreamStage]:
    """The Stages with auto-promotion on that take Freight of `origin` from `upstream`
    (`upstream` empty: new Freight, for the Stages that take it directly), by name. A Stage
    that requests the origin twice is told once per request, as Kargo evaluates each."""
    told = []
    for name, stage in sorted(project.stages.items()):
        if not auto_promotion_enabled(project.project_config, stage):
            continue
        for request in stage.spec.requested_freight:
            if request.origin.name != origin:
                continue
            if upstream == "" and not request.sources.direct:
                continue
            if upstream != "" and upstream not in request.sources.stages:
                continue
            soak = request.sources.required_soak_time
            told.append(
                DownstreamStage(
                    stage=name, soak=parse_duration(soak) if soak else timedelta(0), match_upstream=_matches_upstream(request)
                )
            )
    return told


def match_upstream_source(stage: Stage, origin: str) -> str | None:
    """The upstream Stage a MatchUpstream request of `stage` for Freight of `origin`
    follows, or None when the request selects the newest Freight."""
    for request in stage.spec.requested_freight:
        if request.origin.name == origin and _matches_upstream(request):
            return request.sources.stages[0]
    return None


def is_candidate(stage: Stage, freight: dict[str, Any], newer_exists: bool) -> bool:
    """Is `freight` its request's auto-promotion candidate (Kargo's holds: a user promotion
    of anything else holds the origin)? MatchUpstream: the Freight its upstream has now;
    else the newest of its origin."""
    upstream = match_upstream_source(stage, (freight.get("origin") or {}).get("name", ""))
    if upstream is not None:
        return upstream in ((freight.get("status") or {}).get("currentlyIn") or {})
    return not newer_exists


def match_upstream_skip(freight: dict[str, Any] | None, stage: str, upstream: str) -> str:
    """Why MatchUpstream does not promote this Freight now ("" when it does): Kargo's
    candidate is the Freight currently in the one upstream Stage, never what it had before,
    and nothing is promoted that the Stage already has."""
    current = ((freight or {}).get("status") or {}).get("currentlyIn") or {}
    if upstream not in current:
        return f"MatchUpstream: the Freight is no longer in {upstream}"
    if stage in current:
        return f"MatchUpstream: {stage} already has the Freight"
    return ""


def newer_current_skip(freight: dict[str, Any] | None, current: dict[str, Any] | None, stage: str) -> str:
    """Why NewestFreight does not promote `freight` over the Stage's `current` Freight (""
    when it does): Kargo's candidate is the newest available, so Freight that became
    available after newer Freight of its origin reached the Stage (an upstream went back to
    it) is not auto-promoted there."""
    if not freight or not current or current.get("name") == freight.get("name"):
        return ""
    origin = (freight.get("origin") or {}).get("name")
    if (current.get("origin") or {}).get("name") != origin or _discovered(current) < _discovered(freight):
        return ""
    return f"NewestFreight: {stage} has newer Freight of {origin} ({current['name'][:12]})"


class Offer(BaseModel):
    """Freight a refresh offers a Stage again, as `upstream_verified` carries it."""

    freight: str
    upstream: str = ""
    match_upstream: bool = False
    #: when it was verified in `upstream` (None: direct, or approved): a repeated refresh
    #: then asks for the same promotion, which starts once
    verified_at: datetime | None = None


def _discovered(freight: dict[str, Any]) -> tuple[str, str]:
    """Kargo's order of candidates: newest discovered, ties by name."""
    return (str(freight.get("discoveredAt") or ""), str(freight.get("name", "")))


def refresh_offers(stage: Stage, freight: list[dict[str, Any]], now: datetime) -> list[Offer]:
    """What `gantry refresh stage` offers the Stage (Kargo's reconcile re-selecting its
    auto-promotion candidates): per request, the newest Freight of its origin available now
    (MatchUpstream: the one its upstream Stage has now), unless the Stage has it already."""
    offers = []
    name = stage.metadata.name
    for request in stage.spec.requested_freight:
        match_upstream = _matches_upstream(request)
        candidates = [
            f
            for f in freight
            if (f.get("origin") or {}).get("name") == request.origin.name and freight_availability(stage, f, now).available
        ]
        if match_upstream:
            followed = request.sources.stages[0]
            candidates = [f for f in candidates if followed in ((f.get("status") or {}).get("currentlyIn") or {})]
            if len(candidates) != 1:  # Kargo skips the origin while the upstream changes hands
                continue
        if not candidates:
            continue
        best = max(candidates, key=_discovered)
        status = best.get("status") or {}
        if name in (status.get("currentlyIn") or {}):
            continue
        verified_in = status.get("verifiedIn") or {}
        upstream = followed if match_upstream else next((s for s in request.sources.stages if s in verified_in), "")
        verified_at = parse_time((verified_in.get(upstream) or {}).get("verifiedAt")) if upstream else None
        offers.append(Offer(freight=best["name"], upstream=upstream, match_upstream=match_upstream, verified_at=verified_at))
    return offers


def life_start(stage_started: datetime, freight: dict[str, Any] | None, now: datetime) -> datetime:
    """When the pair (Stage, Freight) began as it is now: the later of the Stage workflow's
    first start and the Freight's discovery (one in the future does not count). A project or
    Stage deleted and applied again, or Freight collected and found again, begins anew."""
    discovered = parse_time((freight or {}).get("discoveredAt"))
    if discovered is None or discovered > now:
        return stage_started
    return max(stage_started, discovered)


def renamed_for_new_life(name: str, earlier_started: datetime | None, begun: datetime) -> str:
    """Auto-promotion names are fixed per Stage and Freight, so a Freight is auto-promoted
    into a Stage once (a retried activity or a repeated refresh finds the same promotion).
    A promotion of that name that started before the pair's life began belongs to a former
    Stage or Freight of the same names: this life's promotion takes the life's start as a
    suffix ("" when the earlier promotion is this life's own)."""
    if earlier_started is None or earlier_started >= begun:
        return ""
    return f"{name}.life{int(begun.timestamp())}"
