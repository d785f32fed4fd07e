"""Names of Kargo's built-in promotion steps (akuity/kargo, docs/docs/50-user-guide/
60-reference-docs/30-promotion-steps/ and pkg/promotion/runner/builtin/).

`validate` accepts every name Kargo knows, so a Kargo pipeline validates here even where
Gantry does not (yet) run that step; an unknown name is almost always a typo.
"""

from __future__ import annotations

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

#: Every built-in step name `uses` may name.
KNOWN_STEPS: frozenset[str] = OSS_STEPS | ENTERPRISE_STEPS
