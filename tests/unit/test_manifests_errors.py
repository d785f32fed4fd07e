"""Bad manifests as a new user writes them: each gives ONE clear error naming file, line,
document and field."""

from __future__ import annotations

import pytest

from pipeline.manifests import (
    KNOWN_STEPS,
    ManifestError,
    ManifestIssue,
    ManifestSet,
    load_sourced,
    parse_documents,
    stage_cycles,
    validate_set,
)

WAREHOUSE = """
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: my-warehouse
  namespace: my-project
spec:
  subscriptions:
  - image:
      repoURL: my-registry/my-app
"""

STAGE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: uat
  namespace: my-project
spec:
  requestedFreight:
  - origin:
      kind: Warehouse
      name: my-warehouse
    sources:
      direct: true
"""


def check(text: str, default_project: str | None = None) -> list[ManifestIssue]:
    """Run the whole pipeline (parse, load, merge, validate); return the issues."""
    try:
        items = [load_sourced(d, default_project) for d in parse_documents(text, "bad.yaml")]
        validate_set(ManifestSet().merge(items))
    except ManifestError as err:
        return err.issues
    return []


def one(text: str, **kw) -> ManifestIssue:
    issues = check(text, **kw)
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


def test_the_good_one_is_good() -> None:
    assert check(STAGE + WAREHOUSE) == []


def test_config_dedented_under_a_step() -> None:
    issue = one(
        STAGE
        + """  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
      config:
        repoURL: https://github.com/example/deploy.git
"""
        + WAREHOUSE
    )
    assert issue.file == "bad.yaml" and issue.line == 17
    assert issue.document == "Stage/uat"
    assert issue.path == "spec.promotionTemplate.spec.config"
    assert "unknown field 'config'" in issue.message and "steps[]" in issue.message
    assert "indentation" in issue.message
    assert str(issue).startswith("bad.yaml:17: Stage/uat: spec.promotionTemplate.spec.config: unknown field")


def test_misspelt_field_suggests_the_right_one() -> None:
    issue = one(STAGE + "  promotionTemplate:\n    spec:\n      stpes: []\n" + WAREHOUSE)
    assert issue.message == "unknown field 'stpes'; did you mean 'steps'? (check the indentation)"
    assert issue.line == 15


def test_yaml_syntax_error_from_indentation() -> None:
    issue = one(
        STAGE
        + """  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: https://github.com/example/deploy.git
         checkout: []
"""
    )
    assert issue.file == "bad.yaml" and issue.line == 19
    assert issue.message.startswith("YAML syntax error: ")
    assert "indent" in issue.message
    assert str(issue).startswith("bad.yaml:19: YAML syntax error")


def test_tabs_are_explained() -> None:
    issue = one(STAGE.replace("    sources:", "\tsources:"))
    assert issue.line == 11
    assert "tab" in issue.message and "spaces" in issue.message


def test_duplicate_key() -> None:
    issue = one(STAGE.replace("  name: uat\n", "  name: uat\n  name: prod\n"))
    assert "'name' appears twice" in issue.message


def test_unknown_kind() -> None:
    issue = one(STAGE.replace("kind: Stage", "kind: Stages"))
    assert issue.path == "kind" and issue.line == 2
    assert "unknown kind 'Stages'; did you mean 'Stage'?" in issue.message
    assert "Warehouse" in issue.message  # the kinds we know are listed


def test_wrong_api_version() -> None:
    issue = one(STAGE.replace("kargo.akuity.io/v1alpha1", "argoproj.io/v1alpha1"))
    assert issue.path == "apiVersion"
    assert "kargo.akuity.io/v1alpha1" in issue.message


def test_missing_required_field() -> None:
    issue = one(STAGE.replace("      name: my-warehouse\n", "") + WAREHOUSE)
    assert issue.path == "spec.requestedFreight[0].origin.name"
    assert issue.message == "field required"
    assert issue.line == 8  # the origin: line


def test_missing_name() -> None:
    issue = one(STAGE.replace("  name: uat\n", ""))
    assert issue.path == "metadata.name" and issue.message == "field required"


def test_missing_namespace_needs_a_project() -> None:
    text = STAGE.replace("  namespace: my-project\n", "")
    issue = one(text)
    assert issue.path == "metadata.namespace"
    assert issue.message == "metadata.namespace is required: it names the Project"
    assert check(text + WAREHOUSE, default_project="my-project") == []


def test_mapping_written_as_text() -> None:
    issue = one(STAGE.replace("  - origin:\n      kind: Warehouse\n      name: my-warehouse\n", "  - origin: my-warehouse\n"))
    assert issue.path == "spec.requestedFreight[0].origin"
    assert "must be a mapping" in issue.message


def test_dangling_reference() -> None:
    issue = one(STAGE)
    assert str(issue) == (
        'bad.yaml:10: Stage/uat: spec.requestedFreight[0].origin.name: '
        'Warehouse "my-warehouse" does not exist in project my-project'
    )
    assert issue.project == "my-project"


def _stage(name: str, upstream: list[str]) -> str:
    src = "sources:\n      stages: [" + ", ".join(upstream) + "]" if upstream else "sources:\n      direct: true"
    return f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {name}, namespace: my-project}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: my-warehouse}}
    {src}
"""


def test_stage_cycle() -> None:
    text = _stage("test", []) + _stage("uat", ["test", "prod"]) + _stage("prod", ["uat"]) + WAREHOUSE
    issue = one(text)
    assert issue.message == "the Stage graph has a cycle: prod -> uat -> prod"
    assert issue.document == "Stage/prod"
    assert issue.path == "spec.requestedFreight[0].sources.stages[0]"


def test_stage_cycle_helper_finds_self_loops_and_long_cycles() -> None:
    items = [load_sourced(d) for d in parse_documents(
        _stage("a", ["c"]) + _stage("b", ["a"]) + _stage("c", ["b"]) + _stage("d", ["d"]), "x.yaml")]
    ms = ManifestSet().merge(items)
    assert stage_cycles(ms.projects["my-project"].stages) == [["a", "b", "c"], ["d"]]


TASK = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: inner, namespace: my-project}
spec:
  vars:
  - name: repoURL
  - name: branch
    value: main
  steps:
  - uses: git-clone
    config: {repoURL: "${{ vars.repoURL }}", checkout: [{branch: "${{ vars.branch }}", path: ./src}]}
"""


def test_task_referencing_a_task() -> None:
    text = TASK + """---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: outer, namespace: my-project}
spec:
  steps:
  - task:
      name: inner
"""
    issue = one(text)
    assert issue.document == "PromotionTask/outer"
    assert issue.path == "spec.steps[0].task"
    assert "cannot reference another task" in issue.message


def test_unknown_step_name() -> None:
    issue = one(STAGE + "  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clon\n" + WAREHOUSE)
    assert issue.path == "spec.promotionTemplate.spec.steps[0].uses"
    assert issue.message.startswith("unknown step 'git-clon'; did you mean 'git-clone'? Gantry runs: argocd-update, ")
    assert issue.line == 16


def test_bad_duration() -> None:
    issue = one(STAGE.replace("      direct: true\n", "      direct: true\n      requiredSoakTime: 2 hours\n") + WAREHOUSE)
    assert issue.path == "spec.requestedFreight[0].sources.requiredSoakTime"
    assert "invalid duration '2 hours'" in issue.message
    assert issue.line == 13


def test_bad_metric_interval() -> None:
    text = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t, namespace: my-project}
spec:
  metrics:
  - name: m
    interval: 30
    provider:
      prometheus: {address: "http://p", query: up}
"""
    issue = one(text)
    assert issue.path == "spec.metrics[0].interval" and "invalid duration" in issue.message


def _steps(steps: str, extra: str = "") -> str:
    return STAGE + "  promotionTemplate:\n    spec:\n      steps:\n" + steps + WAREHOUSE + extra


def test_step_needs_uses_or_task() -> None:
    issue = one(_steps("      - as: nothing\n"))
    assert issue.path == "spec.promotionTemplate.spec.steps[0]"
    assert "needs 'uses'" in issue.message
    issue = one(_steps("      - uses: git-clone\n        task: {name: inner}\n", TASK))
    assert "exactly one of 'uses' or 'task'" in issue.message


def test_duplicate_step_alias() -> None:
    issue = one(_steps("      - uses: fail\n        as: a\n      - uses: fail\n        as: a\n"))
    assert issue.path == "spec.promotionTemplate.spec.steps[1].as"
    assert "alias 'a' is already used" in issue.message


def test_requested_freight_needs_a_source() -> None:
    issue = one(STAGE.replace("      direct: true\n", "      direct: false\n") + WAREHOUSE)
    assert issue.path == "spec.requestedFreight[0].sources"
    assert "sources.direct" in issue.message


def test_task_step_cannot_set_retry_or_continue_on_error() -> None:
    issues = check(_steps(
        "      - task: {name: inner}\n        continueOnError: true\n        retry: {errorThreshold: 2}\n"
        "        vars: [{name: repoURL, value: x}]\n", TASK))
    assert [i.path.split(".")[-1] for i in issues] == ["continueOnError", "retry"]


def test_task_var_not_declared() -> None:
    issue = one(_steps("      - task: {name: inner}\n        vars:\n        - {name: repoURL, value: x}\n"
                       "        - {name: repoUrl, value: y}\n", TASK))
    assert issue.path == "spec.promotionTemplate.spec.steps[0].vars[1].name"
    assert "has no var 'repoUrl'" in issue.message


def test_task_var_required_but_not_set() -> None:
    issue = one(_steps("      - task: {name: inner}\n", TASK))
    assert "missing value for variable 'repoURL'" in issue.message
    # a Stage-level var satisfies it, as in Kargo
    text = _steps("      - task: {name: inner}\n", TASK).replace(
        "spec:\n  requestedFreight", "spec:\n  vars: [{name: repoURL, value: x}]\n  requestedFreight", 1)
    assert check(text) == []


def test_missing_task_and_templates() -> None:
    issues = check(_steps("      - task: {name: nope}\n      - task: {name: nada, kind: ClusterPromotionTask}\n")
                   .replace("      direct: true\n", "      direct: true\n", 1)
                   + "")
    assert [i.message for i in issues] == [
        'PromotionTask "nope" does not exist in project my-project',
        'ClusterPromotionTask "nada" does not exist',
    ]


def test_every_problem_is_listed_at_once() -> None:
    text = _stage("uat", ["test"]) + _stage("prod", ["uat"]).replace("my-warehouse", "other")
    issues = check(text)
    assert len(issues) == 3  # Stage test, Warehouse my-warehouse (uat), Warehouse other (prod)
    assert all(i.file == "bad.yaml" for i in issues)


def test_known_steps_cover_the_seed_and_docs() -> None:
    for name in ("argocd-update", "git-open-pr", "git-wait-for-pr", "kustomize-build", "http",
                 "compose-output", "git-clone", "git-push", "yaml-update", "helm-template"):
        assert name in KNOWN_STEPS


def test_known_steps_can_be_narrowed() -> None:
    items = [load_sourced(d) for d in parse_documents(_steps("      - uses: argocd-update\n"), "x.yaml")]
    with pytest.raises(ManifestError, match="'argocd-update' is a Kargo step Gantry does not run yet; Gantry runs: git-clone$"):
        validate_set(ManifestSet().merge(items), known_steps={"git-clone"})


def test_error_prints_one_issue_per_line() -> None:
    err = ManifestError([ManifestIssue(file="a.yaml", line=1, document="Stage/x", path="spec", message="m1"),
                         ManifestIssue(file="b.yaml", message="m2")])
    assert str(err) == "a.yaml:1: Stage/x: spec: m1\nb.yaml: m2"


def test_freight_is_not_merged_into_the_set() -> None:
    text = """apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {namespace: my-project}
origin: {kind: Warehouse, name: my-warehouse}
images: [{repoURL: r, tag: "1"}]
"""
    item = load_sourced(parse_documents(text, "f.yaml")[0])
    assert item.kind == "Freight" and item.project == "my-project"
    with pytest.raises(ManifestError, match="freight catalog"):
        ManifestSet().merge([item])


def test_list_kind_and_empty_documents() -> None:
    text = "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n" + "\n".join(
        "- " + line if i == 0 else "  " + line for i, line in enumerate(STAGE.strip().splitlines())
    ) + "\n"
    docs = parse_documents(text, "list.yaml")
    assert len(docs) == 1 and docs[0].index == 1 and docs[0].item == 0 and docs[0].line == 7
    assert docs[0].data["metadata"]["name"] == "uat"


def test_a_misspelt_choice_suggests_the_right_one() -> None:
    """#15: a matchExpressions operator typo is refused at validate, naming the field."""
    issue = one(
        """apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: p, namespace: p}
spec:
  promotionPolicies:
  - stageSelector:
      matchExpressions: [{key: tier, operator: Inn, values: [dev]}]
    autoPromotionEnabled: true
"""
    )
    assert issue.path == "spec.promotionPolicies[0].stageSelector.matchExpressions[0].operator"
    assert issue.message.endswith("(got the text 'Inn'); did you mean 'In'?"), issue.message
