"""Kargo's data functions (issue #15): stageMetadata, freightMetadata, freightStatus,
configMap, sharedConfigMap, artifactFrom; what a promotion reads for them; and secret(),
which a workflow leaves for the step's worker."""

from __future__ import annotations

import pytest

from pipeline.expressions import ExpressionError, evaluate, promotion_env
from pipeline.expressions.data import PromotionData, template_lookups, uses_secrets
from pipeline.step_rendering import RenderScope, render_config

FREIGHT = {
    "name": "f1",
    "origin": {"kind": "Warehouse", "name": "wh"},
    "images": [{"repoURL": "registry/app", "tag": "1.0"}],
    "status": {"currentlyIn": {"dev": {"since": "2026-01-01T00:00:00+00:00"}}, "metadata": {"team": "blue"}},
}
DATA = PromotionData(
    stage_metadata={"dev": {"aws-region": "eu-west-1", "config": {"timeout": 30}}},
    freight_status={"f1": FREIGHT["status"], "f0": {"verifiedIn": {"dev": {}}},
                    "f2": {"approvedFor": {"prod": {"approvedAt": "2026-02-03T04:05:06.789+00:00", "by": "ana"}},
                           "verifiedIn": {"dev": {"verifiedAt": "2026-02-01T00:00:00+00:00", "longestSoak": "1h0m0s"}}}},
    config_maps={"settings": {"repoURL": "https://git.example/app.git"}},
    shared_config_maps={"common": {"region": "eu"}},
)


def env(data: PromotionData | None = DATA, freight: dict | None = None) -> dict:
    return promotion_env(project="p", stage="dev", freight=[freight or FREIGHT], data=data)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("stageMetadata(ctx.stage)['aws-region']", "eu-west-1"),
        ("stageMetadata('dev')?.config?.timeout ?? 300", 30),
        ("stageMetadata('prod')", None),
        ("stageMetadata('prod')?.tier ?? 'default-tier'", "default-tier"),
        ("freightMetadata(ctx.targetFreight.name).team", "blue"),
        ("freightMetadata('f0')", None),
        ("freightMetadata('nope')", None),
        ("keys(freightStatus(ctx.targetFreight.name))", ["currentlyIn", "metadata"]),
        ("freightStatus('f1').currentlyIn.dev.since", "2026-01-01T00:00:00Z"),
        ("freightStatus('f2').approvedFor", {"prod": {"approvedAt": "2026-02-03T04:05:06Z"}}),
        ("freightStatus('f2').verifiedIn.dev", {"verifiedAt": "2026-02-01T00:00:00Z", "longestSoak": "1h0m0s"}),
        ("'dev' in freightStatus('f1').currentlyIn", True),
        ("freightStatus('f1').approvedFor?.prod?.approvedAt != nil", False),
        ("freightStatus('nope')", None),
        ("configMap('settings').repoURL", "https://git.example/app.git"),
        ("configMap('missing')", {}),
        ("sharedConfigMap('common').region", "eu"),
        ("sharedConfigMap('settings')", {}),
        ("artifactFrom('sub')", None),
    ],
)
def test_data_functions_answer_as_kargo(expression, expected):
    assert evaluate(expression, env()) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("stageMetadata('')", "stage name must not be empty"),
        ("freightStatus(1)", "argument must be string, got int"),
        ("configMap()", "expected 1 argument, got 0"),
        ("freightMetadata('a', 'b')", r"got 2 \(Kargo removed the \(name, key\) form"),
    ],
)
def test_bad_arguments_are_expression_errors(expression, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, env())


def test_a_computed_freight_name_not_read_is_an_error_not_nil():
    data = DATA.model_copy(update={"freight_complete": False})
    assert evaluate("freightMetadata('f1').team", env(data)) == "blue"
    with pytest.raises(ExpressionError, match="was not read at the promotion's start"):
        evaluate("freightStatus('other')", env(data))


def test_artifact_from_finds_a_generic_subscriptions_artifact():
    freight = {**FREIGHT, "artifacts": [{"subscriptionName": "pkg", "artifactType": "npm", "version": "2.0.1",
                                         "metadata": {"sha": "abc"}}]}
    assert evaluate("artifactFrom('pkg').Version", env(freight=freight)) == "2.0.1"
    assert evaluate("artifactFrom('pkg', warehouse('wh')).Metadata.sha", env(freight=freight)) == "abc"
    assert evaluate("artifactFrom('pkg', warehouse('other'))", env(freight=freight)) is None


def test_lookups_name_what_the_templates_read():
    templates = [
        [{"name": "x", "value": "${{ stageMetadata(ctx.stage).a }} ${{ configMap('settings').k }}"}],
        {"config": {"a": "${{ freightStatus(ctx.targetFreight.name) }}", "b": ["${{ freightMetadata('f0') }}"]},
         "if": "${{ sharedConfigMap('common').on == 'yes' }}"},
        "no expression: configMap(x)",
    ]
    found = template_lookups(templates, {"ctx.stage": "dev", "ctx.targetFreight.name": "f1"})
    assert found.names == {"stage": {"dev"}, "freight": {"f1", "f0"}, "configMap": {"settings"},
                           "sharedConfigMap": {"common"}}
    assert found.computed == set()
    picked = PromotionData(stage_metadata={"dev": {"a": 1}, "prod": {"b": 2}},
                           config_maps={"settings": {}, "other": {"big": "x" * 1000}}).selected(found)
    assert picked.stage_metadata == {"dev": {"a": 1}} and picked.config_maps == {"settings": {}}
    assert picked.freight_complete


def test_computed_names_read_all_of_a_kind_except_freight():
    found = template_lookups(["${{ configMap(vars.name).k }} ${{ freightStatus(vars.f) }}"], {})
    assert found.computed == {"configMap", "freight"}
    picked = PromotionData(config_maps={"a": {}, "b": {}}).selected(found)
    assert set(picked.config_maps) == {"a", "b"} and not picked.freight_complete


def test_data_too_large_for_a_promotion_is_refused_naming_the_computed_function():
    big = {f"cm{i}": {"blob": "x" * 60_000} for i in range(6)}
    data = PromotionData(config_maps=big)
    computed = template_lookups(["${{ configMap(vars.name).blob }}"], {})
    message = data.selected(computed).oversize(computed, 256 * 1024)
    assert "over the 256 KB a promotion carries" in message
    assert "computes the name given to configMap()" in message and "configMap('settings')" in message
    literal = template_lookups(["${{ configMap('cm1').blob }}"], {})
    assert data.selected(literal).oversize(literal, 256 * 1024) == ""


def test_set_metadata_in_a_promotion_is_seen_by_later_steps():
    data = DATA.model_copy(deep=True)
    data.apply_metadata([{"kind": "Stage", "name": "dev", "values": {"tier": "gold"}},
                         {"kind": "Freight", "name": "f1", "values": {"qa": "passed"}}])
    assert evaluate("stageMetadata('dev').tier + freightMetadata('f1').qa", env(data)) == "goldpassed"


def test_the_workflow_leaves_secret_fields_for_the_worker():
    scope = RenderScope(project="p", stage="dev", promotion="pr", freight=FREIGHT, actor=None, data=DATA)
    config = {
        "url": "${{ configMap('settings').repoURL }}",
        "headers": [{"name": "Authorization", "value": "Bearer ${{ secret('slack').token }}"}],
        "shared": "${{ sharedSecret('reg').token }}",
    }
    paths: list = []
    rendered = render_config(scope, config, vars={}, outputs={}, step_statuses={}, alias="a", source="s",
                             secret_paths=paths)
    assert rendered == {**config, "url": "https://git.example/app.git"}
    assert paths == [["headers", 0, "value"], ["shared"]]
    assert uses_secrets("${{ secret('x').y }}") and not uses_secrets("secret('x')")
    with pytest.raises(ExpressionError, match="can only be used in a step's config"):
        render_config(scope, config, vars={}, outputs={}, step_statuses={}, alias="a", source="s")


def test_secret_in_vars_or_if_is_refused_where_the_workflow_evaluates():
    with pytest.raises(ExpressionError, match="can only be used in a step's config"):
        evaluate("secret('slack').token", env())


def test_verification_args_read_data_but_not_secrets():
    from pipeline.expressions import verification_env

    venv = verification_env(project="p", stage="dev", freight=[FREIGHT], data=DATA)
    assert evaluate("configMap('settings').repoURL + ' ' + stageMetadata(ctx.stage)['aws-region']", venv) == (
        "https://git.example/app.git eu-west-1"
    )
    with pytest.raises(ExpressionError, match="can only be used in a step's config"):
        evaluate("secret('x')", venv)
