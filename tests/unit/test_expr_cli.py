"""`gantry expr` through Typer's CliRunner, offline (--freight-file)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from client.commands.expr import register

FREIGHT_YAML = """\
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata:
  name: 8c1e2f7d9a
  namespace: my-project
  labels:
    kargo.akuity.io/alias: frozen-fox
alias: frozen-fox
origin:
  kind: Warehouse
  name: my-warehouse
images:
- repoURL: my-registry/my-app
  tag: 1.7.2
  digest: sha256:0d4e
commits:
- repoURL: https://github.com/example/repo.git
  id: 3f9a1c2b7e
"""

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def invoke(*args: str):
    return runner.invoke(make_app(), ["expr", *args])


def test_plain_expression() -> None:
    result = invoke("1 + 2 * 3")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "7"


def test_freight_file_and_json_output(tmp_path: Path) -> None:
    path = tmp_path / "freight.yaml"
    path.write_text(FREIGHT_YAML)
    result = invoke('imageFrom("my-registry/my-app")', "--freight-file", str(path), "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"repoURL": "my-registry/my-app", "tag": "1.7.2", "digest": "sha256:0d4e"}
    result = invoke('imageFrom("my-registry/my-app").Tag', "--freight-file", str(path))
    assert result.stdout.strip() == "1.7.2"
    result = invoke("ctx.targetFreight.alias", "--freight-file", str(path))
    assert result.stdout.strip() == "frozen-fox"


def test_template_with_vars_and_stage() -> None:
    result = invoke("./out/${{ vars.env }}/${{ ctx.stage }}", "--vars", '{"env": "uat"}', "--stage", "prod")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "./out/uat/prod"
    result = invoke("${{ vars.n + 1 }}", "--vars", '{"n": 41}', "-o", "json")
    assert result.stdout.strip() == "42"


def test_condition_mode() -> None:
    result = invoke("result[0] < 0.05", "--result", "[0.01]")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "true"


def test_errors_exit_1() -> None:
    result = invoke("vars.x +")
    assert result.exit_code == 1
    assert "expected an operand, found end of expression" in result.stderr
    result = invoke("vars.x", "--vars", "{not json")
    assert result.exit_code == 1
    assert "--vars is not valid JSON" in result.stderr
