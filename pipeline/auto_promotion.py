"""Is auto-promotion on for a Stage? ProjectConfig `promotionPolicies`, first match wins.

A policy names its Stage with `stage` (deprecated) or `stageSelector.name`: an exact name,
`regex:<pattern>` or `glob:<pattern>`; `stageSelector.matchLabels` matches Stage labels.
"""

from __future__ import annotations

import fnmatch

from pipeline.goregex import compile_go
from pipeline.manifests import ProjectConfig, Stage


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
