"""validate/apply refuse a `${{ }}` that calls a function Gantry does not have (issue #15),
naming file, line, document, field and column, with a did-you-mean."""

from __future__ import annotations

from pipeline.manifests import ManifestError, ManifestIssue, ManifestSet, load_sourced, parse_documents, validate_set

HEAD = """---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: wh, namespace: p}
spec:
  subscriptions:
  - image: {repoURL: registry/app}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: uat, namespace: p}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: wh}
    sources: {direct: true}
"""


def issues(text: str) -> list[ManifestIssue]:
    try:
        validate_set(ManifestSet().merge([load_sourced(d, None) for d in parse_documents(text, "pipeline.yaml")]))
    except ManifestError as err:
        return err.issues
    return []


def stage_with_step(step: str) -> str:
    return HEAD + "  promotionTemplate:\n    spec:\n      steps:\n" + step


def test_misspelt_function_in_step_config_is_refused_with_a_suggestion():
    found = issues(stage_with_step(
        "      - uses: kustomize-set-image\n"
        "        config:\n"
        "          path: ./env\n"
        "          images:\n"
        "          - image: registry/app\n"
        "            tag: ${{ imageFrmo('registry/app').Tag }}\n"
    ))
    assert len(found) == 1, found
    text = str(found[0])
    assert found[0].file == "pipeline.yaml" and found[0].line == 24
    assert found[0].document == "Stage/uat"
    assert found[0].path == "spec.promotionTemplate.spec.steps[0].config.images[0].tag"
    assert "unknown function imageFrmo(); did you mean 'imageFrom'?" in text
    assert "at column 1" in text


def test_unknown_function_in_if_vars_and_a_task_is_refused():
    text = stage_with_step(
        "      - uses: fail\n"
        "        if: succes() && true\n"
        "        vars:\n"
        "        - {name: x, value: '${{ 1 + nope(2) }}'}\n"
    ) + """---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: t, namespace: p}
spec:
  vars:
  - {name: v, value: "a-${{ upperr('x') }}"}
  steps:
  - uses: fail
    config: {message: "${{ warehouse('wh').Name }}"}
"""
    found = {(i.document, i.path): i.message for i in issues(text)}
    assert set(found) == {
        ("Stage/uat", "spec.promotionTemplate.spec.steps[0].if"),
        ("Stage/uat", "spec.promotionTemplate.spec.steps[0].vars[0].value"),
        ("PromotionTask/t", "spec.vars[0].value"),
    }, found
    assert "did you mean 'success'?" in found[("Stage/uat", "spec.promotionTemplate.spec.steps[0].if")]
    assert "unknown function nope()" in found[("Stage/uat", "spec.promotionTemplate.spec.steps[0].vars[0].value")]
    assert "at column 5" in found[("Stage/uat", "spec.promotionTemplate.spec.steps[0].vars[0].value")]
    assert "did you mean 'upper'?" in found[("PromotionTask/t", "spec.vars[0].value")]


def test_secret_outside_a_steps_config_is_refused():
    found = issues(stage_with_step(
        "      - uses: fail\n"
        "        if: ${{ secret('s').on == 'yes' }}\n"
        "        config: {message: \"${{ secret('s').token }}\"}\n"
    ))
    assert [(i.path, "can only be used in a step's config" in i.message) for i in found] == [
        ("spec.promotionTemplate.spec.steps[0].if", True)
    ], found


def test_a_template_that_does_not_parse_is_refused():
    found = issues(stage_with_step("      - uses: fail\n        config: {message: '${{ 1 + }}'}\n"))
    assert len(found) == 1 and found[0].path.endswith("config.message"), found


def test_every_kargo_and_expr_lang_function_passes():
    assert issues(stage_with_step(
        "      - uses: fail\n"
        "        if: ${{ success() || failure() || always() || status('x') == '' }}\n"
        "        config:\n"
        "          message: >-\n"
        "            ${{ quote(imageFrom('registry/app', warehouse('wh'))) }} ${{ semverDiff('1.0.0', '1.1.0') }}\n"
        "            ${{ let f = 1; f }} ${{ len(filter([1, 2], # > 1)) }} ${{ upper(string(now())) }}\n"
        "            ${{ duration('1h') }} ${{ date('2024-01-02') }}\n"
    )) == []


def test_verification_args_see_the_verification_functions_only():
    found = issues(HEAD + "  verification:\n    args:\n    - {name: a, value: '${{ success() }}'}\n")
    assert len(found) == 1 and found[0].path == "spec.verification.args[0].value", found
    assert "unknown function success()" in found[0].message


def test_warehouse_creation_criteria_are_checked_too():
    text = HEAD.replace(
        "  - image: {repoURL: registry/app}\n",
        "  - image: {repoURL: registry/app}\n"
        "  freightCreationCriteria:\n"
        "    expression: imageFrom('registry/app').Tag != '' && status('x') == ''\n",
    )
    found = issues(text)
    assert len(found) == 1 and found[0].document == "Warehouse/wh", found
    assert found[0].path == "spec.freightCreationCriteria.expression"
    assert "unknown function status()" in found[0].message and "at column 40" in found[0].message
    ok = text.replace("status('x') == ''", "now() - date('2024-01-01') > duration('1h')")
    assert issues(ok) == []
