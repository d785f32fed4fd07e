"""Is auto-promotion on for a Stage? ProjectConfig `promotionPolicies`, first match wins.

A policy names its Stage with `stage` (deprecated: an exact name) or `stageSelector`, whose
`name` (exact, `regex:`/`regexp:` or `glob:`) and label selector (`matchLabels`,
`matchExpressions`) must all match, as Kargo's `findMatchingPromotionPolicy` reads them.

Which Freight: a request's `autoPromotionOptions.selectionPolicy` is NewestFreight (each
Freight as it becomes available) or MatchUpstream (the Freight its one upstream Stage has
now, followed back too when the upstream goes back to older Freight).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from pipeline.durations import parse_duration
from pipeline.manifests import ProjectConfig, Stage
from pipeline.manifests.manifest_set import ProjectManifests
from pipeline.selectors import name_matcher


def auto_promotion_enabled(config: ProjectConfig | None, stage: Stage) -> bool:
    if config is None:
        return False
    name = stage.metadata.name
    for policy in config.spec.promotion_policies:
        selector = policy.stage_selector
        if selector is None:
            matched = policy.stage == name  # a policy with neither selects the Stage named ""
        else:
            matched = (selector.name is None or name_matcher(selector.name)(name)) and selector.labels().matches(
                stage.metadata.labels
            )
        if matched:
            return policy.auto_promotion_enabled
    return False


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
            options = request.sources.auto_promotion_options
            told.append(
                DownstreamStage(
                    stage=name,
                    soak=parse_duration(soak) if soak else timedelta(0),
                    match_upstream=options is not None and options.selection_policy == "MatchUpstream",
                )
            )
    return told


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
