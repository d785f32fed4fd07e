"""Is auto-promotion on for a Stage? ProjectConfig `promotionPolicies`, first match wins.

A policy names its Stage with `stage` (deprecated) or `stageSelector.name`: an exact name,
`regex:<pattern>` or `glob:<pattern>`; `stageSelector.matchLabels` matches Stage labels.
"""

from __future__ import annotations

import fnmatch
from datetime import timedelta

from pydantic import BaseModel

from pipeline.durations import parse_duration
from pipeline.goregex import compile_go
from pipeline.manifests import ProjectConfig, Stage
from pipeline.manifests.manifest_set import ProjectManifests


def _name_matches(selector: str, name: str) -> bool:
    if selector.startswith("regex:"):
        # Go syntax, linear time; a pattern Go refuses is a ValueError naming it
        return compile_go(selector[len("regex:") :]).fullmatch(name) is not None
    if selector.startswith("glob:"):
        return fnmatch.fnmatchcase(name, selector[len("glob:") :])
    return selector == name


def auto_promotion_enabled(config: ProjectConfig | None, stage: Stage) -> bool:
    if config is None:
        return False
    name = stage.metadata.name
    labels = stage.metadata.labels or {}
    for policy in config.spec.promotion_policies:
        selector = policy.stage_selector
        if policy.stage is not None:
            matched = policy.stage == name
        elif selector is not None:
            matched = True
            if selector.name is not None:
                matched = _name_matches(selector.name, name)
            if matched and selector.match_labels:
                matched = all(labels.get(k) == v for k, v in selector.match_labels.items())
        else:
            continue
        if matched:
            return policy.auto_promotion_enabled
    return False


class DownstreamStage(BaseModel):
    """A Stage to tell that Freight became available to it, and how long it must soak first."""

    stage: str
    soak: timedelta = timedelta(0)


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
            told.append(DownstreamStage(stage=name, soak=parse_duration(soak) if soak else timedelta(0)))
    return told
