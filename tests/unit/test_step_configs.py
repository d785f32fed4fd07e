"""Every step's config is checked by its model: at `gantry validate` (fields without
expressions) and at run time after rendering; a step Gantry does not run is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.steps import _MODULES
from activities.steps.base import STEP_FAILED, StepInput
from activities.steps.git_push import git_push
from client.commands.validate import register
from contracts.step_configs import STEP_CONFIGS, config_issues
from pipeline.manifests.steps import OSS_STEPS, refusal

STAGE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: w, namespace: p}}
spec:
  subscriptions:
  - image: {{repoURL: registry.test/app}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: dev, namespace: p}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: w}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
{steps}"""

MISSPELT = """      - uses: git-clone
        config:
          repoURL: https://git.test/repo.git
          checkout: [{branch: main, path: ./out}]
      - uses: git-push
        as: push
        config:
          path: ./out
          targetBrnach: main
"""


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.callback()
    def main() -> None:
        pass

    return a


def validate(tmp_path: Path, steps: str) -> tuple[int, str]:
    (tmp_path / "stages.yaml").write_text(STAGE.format(steps=steps))
    res = CliRunner().invoke(app(), ["validate", "-f", str(tmp_path / "stages.yaml")])
    return res.exit_code, res.output


def test_every_step_the_worker_runs_has_a_config_model_and_no_other() -> None:
    assert set(STEP_CONFIGS) == set(_MODULES)


def test_a_misspelt_field_is_refused_by_validate(tmp_path: Path) -> None:
    code, out = validate(tmp_path, MISSPELT)
    assert code == 1
    assert (
        "stages.yaml:26: Stage/dev: spec.promotionTemplate.spec.steps[1].config.targetBrnach: "
        "step 'push' (git-push): unknown field 'targetBrnach'; did you mean 'targetBranch'?"
    ) in out, out


def test_steps_gantry_does_not_run_are_refused_saying_why(tmp_path: Path) -> None:
    code, out = validate(tmp_path, "      - uses: wait-for-approval\n      - uses: git-pussh\n      - uses: frobnicate\n")
    assert code == 1
    runs = "Gantry runs: argocd-update, argocd-wait, compose-output, copy, delete, fail, file-write, git-clear, git-clone"
    assert f"steps[0].uses: 'wait-for-approval' is a Kargo Enterprise step, which Gantry does not run; {runs}" in out
    assert f"steps[1].uses: unknown step 'git-pussh'; did you mean 'git-push'? {runs}" in out
    assert f"steps[2].uses: unknown step 'frobnicate'; {runs}" in out


def test_gantry_runs_every_open_source_kargo_step() -> None:
    assert OSS_STEPS <= set(STEP_CONFIGS)
    # were one missing, validate would say so rather than call it unknown
    assert refusal("tar", runnable={"untar"}).startswith("'tar' is a Kargo step Gantry does not run yet; Gantry runs: untar")


def test_fields_with_expressions_wait_for_run_time_and_the_rest_is_typed(tmp_path: Path) -> None:
    steps = """      - uses: git-push
        config:
          path: ./out
          maxAttempts: "${{ vars.attempts }}"
          force: maybe
      - uses: http
        as: call
        config:
          url: https://example.test
          method: FETCH
          headers: [{name: X-A}]
"""
    code, out = validate(tmp_path, steps)
    assert code == 1
    lines = [line.split(": ", 1)[1] for line in out.splitlines() if "Stage/dev" in line]
    assert lines == [
        "Stage/dev: spec.promotionTemplate.spec.steps[0].config.force: step 'step-0' (git-push): "
        "Input should be a valid boolean",
        "Stage/dev: spec.promotionTemplate.spec.steps[1].config.method: step 'call' (http): "
        "Input should be 'DELETE', 'GET', 'HEAD', 'PATCH', 'POST' or 'PUT'",
        "Stage/dev: spec.promotionTemplate.spec.steps[1].config.headers[0].value: step 'call' (http): "
        "required, but missing",
    ], out


@pytest.mark.parametrize(
    ("uses", "config"),
    [
        ("git-clone", {"repoURL": "x", "checkout": [{"path": "a"}], "insecureSkipTLSVerify": True}),
        ("git-clone", {"repoURL": "x", "checkout": [{"path": "a"}], "blobless": True}),
        ("git-clone", {"repoURL": "x", "checkout": [{"path": "a"}], "recurseSubmodules": True}),
        ("git-clone", {"repoURL": "x", "checkout": [{"path": "a", "sparse": ["d"]}]}),
        ("git-clone", {"repoURL": "x", "checkout": [{"path": "a"}], "author": {"name": "n", "email": "e", "signingKey": "k"}}),
        ("git-commit", {"path": "a", "message": "m", "author": {"name": "n", "email": "e", "signingKey": "k"}}),
        ("git-push", {"path": "a", "provider": "github"}),
    ],
)
def test_kargo_git_fields_are_accepted(uses: str, config: dict) -> None:
    assert config_issues(STEP_CONFIGS[uses], config, rendered=False) == []


def test_an_unknown_git_push_provider_is_refused() -> None:
    issues = config_issues(STEP_CONFIGS["git-push"], {"path": "a", "provider": "gitbucket"}, rendered=False)
    assert [i.path for i in issues] == ["provider"]


async def test_an_expression_rendering_to_a_bad_type_fails_the_step_naming_the_field() -> None:
    rendered = {"path": "./out", "targetBranch": "main", "maxAttempts": "many"}  # what "${{ vars.n }}" gave
    step = StepInput(promotion="p", project="p", stage="dev", alias="push", uses="git-push", config=rendered)
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(git_push, step)
    assert err.value.type == STEP_FAILED and err.value.non_retryable
    assert err.value.message == "git-push: config field 'maxAttempts': Input should be a valid integer"
