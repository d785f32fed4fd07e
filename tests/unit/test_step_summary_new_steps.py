"""One-line summaries of the new steps (Temporal Web, the CLI)."""

from __future__ import annotations

from pipeline.step_summary import summarize_step


def test_summaries_say_what_moves_where() -> None:
    assert summarize_step("tar", {"inPath": "./src/chart", "outPath": "./chart.tgz"}) == "tar ./src/chart -> ./chart.tgz"
    assert summarize_step("untar", {"inPath": "./a.tgz", "outPath": "./out"}) == "untar ./a.tgz -> ./out"
    assert summarize_step("oci-push", {"srcRef": "r.io/a:1", "destRef": "r.io/b:1"}) == "oci-push r.io/a:1 -> r.io/b:1"
    assert summarize_step("github-push", {"path": "./src", "targetBranch": "main"}) == "github-push ./src -> main"
    assert summarize_step("argocd-wait", {"apps": [{"name": "a"}, {"selector": {}}]}) == "argocd-wait a, ?"
    assert summarize_step("toml-update", {"path": "./s.toml", "updates": []}) == "toml-update ./s.toml"
