"""Names of Kargo's built-in promotion steps (akuity/kargo, docs/docs/50-user-guide/
60-reference-docs/30-promotion-steps/ and pkg/promotion/runner/builtin/), and the ones
Gantry runs.

`validate` accepts only the steps Gantry runs (:data:`RUNNABLE_STEPS`, the registry of step
config models); Kargo's other names are known only to say why a step is refused: a Kargo
step Gantry does not run yet, a Kargo Enterprise step, or a typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from contracts.step_configs import STEP_CONFIGS

#: Steps of Kargo's open-source distribution.
OSS_STEPS: frozenset[str] = frozenset(
    {
        "argocd-update",
        "argocd-wait",
        "compose-output",
        "copy",
        "delete",
        "fail",
        "file-write",
        "git-clear",
        "git-clone",
        "git-commit",
        "git-merge-pr",
        "git-open-pr",
        "git-push",
        "git-tag",
        "git-wait-for-pr",
        "github-push",
        "helm-template",
        "helm-update-chart",
        "http",
        "http-download",
        "json-parse",
        "json-update",
        "kustomize-build",
        "kustomize-set-image",
        "oci-download",
        "oci-push",
        "set-freight-alias",
        "set-metadata",
        "tar",
        "toml-parse",
        "toml-update",
        "untar",
        "yaml-merge",
        "yaml-parse",
        "yaml-update",
    }
)

#: Steps documented as Kargo Enterprise only.
ENTERPRISE_STEPS: frozenset[str] = frozenset(
    {
        "get-user-input",
        "gh-create-issue",
        "gh-issue-add-comment",
        "gh-issue-delete-comment",
        "gh-issue-update-comment",
        "gh-search-issues",
        "gh-update-issue",
        "gh-wait-for-issue-state",
        "gha-dispatch-workflow",
        "gha-wait-for-workflow",
        "hcl-update",
        "jfrog-evidence",
        "jira",
        "record-audit-event",
        "send-message",
        "snow-create",
        "snow-delete",
        "snow-query-for-records",
        "snow-update",
        "snow-wait-for-condition",
        "tf-apply",
        "tf-output",
        "tf-plan",
        "wait-for-approval",
    }
)

#: Every built-in step name Kargo knows.
KNOWN_STEPS: frozenset[str] = OSS_STEPS | ENTERPRISE_STEPS

#: The steps Gantry runs: those with a config model (the worker registers one activity each).
RUNNABLE_STEPS: frozenset[str] = frozenset(STEP_CONFIGS)


def refusal(uses: str, runnable: Collection[str] = RUNNABLE_STEPS) -> str:
    """Why a ``uses`` Gantry does not run is refused, ending with the steps it runs."""
    runs = f"Gantry runs: {', '.join(sorted(runnable))}"
    if uses in ENTERPRISE_STEPS:
        return f"'{uses}' is a Kargo Enterprise step, which Gantry does not run; {runs}"
    if uses in OSS_STEPS:
        return f"'{uses}' is a Kargo step Gantry does not run yet; {runs}"
    close = difflib.get_close_matches(uses, sorted(set(runnable) | KNOWN_STEPS), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return f"unknown step '{uses}'{hint} {runs}"
