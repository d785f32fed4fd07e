"""`gantry validate` on a local typer app: offline, errors one per line, exit 1."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from client.commands.validate import register

SEED = Path(__file__).parent.parent / "fixtures" / "seed"

MISSING = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: my-warehouse}
spec:
  subscriptions:
  - image: {repoURL: my-registry/my-app}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: test}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: my-warehouse}
    sources: {direct: true}
"""


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.callback()
    def main() -> None:  # keeps `validate` a subcommand
        pass

    return a


def test_errors_and_exit_code() -> None:
    res = CliRunner().invoke(app(), ["validate", "-f", str(SEED / "01-analysis-templates.yaml"), "-f", str(SEED / "04-promotion-tasks.yaml")])
    assert res.exit_code == 1
    assert 'Stage/uat: spec.requestedFreight[0].sources.stages[0]: Stage "test" does not exist in project my-project' in res.output
    assert "04-promotion-tasks.yaml:58:" in res.output
    assert "4 errors" in res.output


def test_success_summary(tmp_path: Path) -> None:
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "missing.yml").write_text(MISSING)
    (tmp_path / "notes.txt").write_text("not yaml")
    res = CliRunner().invoke(
        app(),
        ["validate", "-f", str(SEED / "01-analysis-templates.yaml"), "-f", str(SEED / "04-promotion-tasks.yaml"),
         "-f", str(tmp_path), "--project", "my-project"],
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == (
        "ok: 1 Warehouse, 3 Stages, 2 PromotionTasks, 1 ClusterPromotionTask, 3 AnalysisTemplates in 3 files"
    )


def test_missing_namespace_without_project(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MISSING)
    res = CliRunner().invoke(app(), ["validate", "-f", str(tmp_path / "m.yaml")])
    assert res.exit_code == 1
    assert "metadata.namespace: metadata.namespace is required: it names the Project" in res.output


def test_yaml_error_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Stage\nmetadata:\n  name: x\n name: y\n")
    res = CliRunner().invoke(app(), ["validate", "-f", str(tmp_path / "bad.yaml")])
    assert res.exit_code == 1 and "bad.yaml:4: YAML syntax error" in res.output
    res = CliRunner().invoke(app(), ["validate", "-f", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 1 and "nope.yaml: no such file or directory" in res.output
