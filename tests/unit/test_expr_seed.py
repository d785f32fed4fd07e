"""Every `${{ }}` in the seed examples renders against a sample Freight.

The expressions are copied here so the test stands alone; when the shared seed
directory sits beside the repository (as in CI) the test also checks that the
copies are still every expression the seed files contain, and renders each
document's values with ruamel.yaml-loaded data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.expressions import promotion_env, render, render_args, verification_env

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "examples"

FREIGHT = {
    "name": "8c1e2f7d9a",
    "alias": "frozen-fox",
    "origin": {"kind": "Warehouse", "name": "my-warehouse"},
    "images": [{"repoURL": "my-registry/my-app", "tag": "1.7.2", "digest": "sha256:0d4e"}],
    "commits": [{"repoURL": "https://github.com/example/repo.git", "id": "3f9a1c2b7e", "branch": "main"}],
}

TASK_VARS = {
    "repoURL": "https://github.com/example/deploy-config.git",
    "environment": "uat",
    "argocdApp": "my-app-uat",
    "targetBranch": "main",
    "sourceBranch": "kargo/uat",
}

# (seed file, the expression's template, expected value)
SEED_TEMPLATES: list[tuple[str, str, Any]] = [
    ("03-verification-args.yaml", '${{ imageFrom("my-registry/my-app").Tag }}', "1.7.2"),
    ("03-verification-args.yaml", '${{ commitFrom("https://github.com/example/repo.git").ID }}', "3f9a1c2b7e"),
    ("04-promotion-tasks.yaml", "${{ vars.repoURL }}", "https://github.com/example/deploy-config.git"),
    ("04-promotion-tasks.yaml", "${{ vars.targetBranch }}", "main"),
    ("04-promotion-tasks.yaml", "./src/environments/${{ vars.environment }}", "./src/environments/uat"),
    ("04-promotion-tasks.yaml", "./out/${{ vars.environment }}", "./out/uat"),
    ("04-promotion-tasks.yaml", "${{ vars.argocdApp }}", "my-app-uat"),
    ("04-promotion-tasks.yaml", "${{ vars.sourceBranch }}", "kargo/uat"),
    ("04-promotion-tasks.yaml", "${{ task.outputs['open-pr'].pr.id }}", 42),
]


def promotion_environment() -> dict[str, Any]:
    return promotion_env(
        project="my-project",
        stage="uat",
        promotion="uat.01jabc.8c1e2f7",
        freight=[FREIGHT],
        vars=TASK_VARS,
        outputs={"pr-flow::open-pr": {"pr": {"id": 42, "url": "https://github.com/example/deploy-config/pull/42"}}},
        step_statuses={"pr-flow::open-pr": "Succeeded"},
        current_alias="pr-flow::wait-for-pr",
    )


@pytest.mark.parametrize("seed_file,template,expected", SEED_TEMPLATES)
def test_seed_expression_renders(seed_file: str, template: str, expected: Any) -> None:
    env = promotion_environment()
    if seed_file == "03-verification-args.yaml":
        env = verification_env(project="my-project", stage="smoke", freight=[FREIGHT])
    assert render(template, env) == expected


def test_seed_analysis_args_flow_into_template() -> None:
    """Stage args (03) are rendered, then substituted into the smoke-test AnalysisTemplate (01)."""
    env = verification_env(project="my-project", stage="smoke", freight=[FREIGHT])
    args = render({
        "image-tag": '${{ imageFrom("my-registry/my-app").Tag }}',
        "commit-sha": '${{ commitFrom("https://github.com/example/repo.git").ID }}',
    }, env)
    assert render_args("{{ args.image-tag }}", args) == "1.7.2"
    assert render_args("{{ args.commit-sha }}", args) == "3f9a1c2b7e"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.skipif(not SEED.is_dir(), reason="shared/seed is not beside this checkout")
def test_seed_files_render_completely() -> None:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    known = {template for _, template, _ in SEED_TEMPLATES}
    found = 0
    for path in sorted(SEED.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text()):
            if not doc:
                continue
            for text in _strings(doc):
                for match in re.finditer(r"\$\{\{.*?\}\}", text):
                    found += 1
                    assert text in known, f"{path.name}: {text!r} is not covered by SEED_TEMPLATES"
            env = promotion_environment()
            if path.name == "03-verification-args.yaml":
                env = verification_env(project="my-project", stage="smoke", freight=[FREIGHT])
            rendered = render(doc, env, source=f"{path.name}: {doc.get('kind')}/{doc['metadata']['name']}")
            assert "${{" not in str(rendered)
            for text in _strings(doc):
                if "{{ args." in text or "{{args." in text:
                    rendered_arg = render_args(text, {"image-tag": "1.7.2", "commit-sha": "3f9a1c2b7e"})
                    assert "{{" not in rendered_arg
    assert found >= len(SEED_TEMPLATES)
