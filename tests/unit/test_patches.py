"""workflows/patches.py lists every ``workflow.patched`` id, and workflow code takes its ids
from there (docs/architecture.md, "Versioning workflow code")."""

from __future__ import annotations

import ast
import base64
import json
import re
from datetime import date
from pathlib import Path

from client.worker import WORKFLOWS
from workflows import patches

WORKFLOWS_DIR = Path(patches.__file__).resolve().parent
PATCH_CALLS = {"patched", "deprecate_patch"}


def sources() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text(), str(p)) for p in sorted(WORKFLOWS_DIR.glob("*.py")) if p.name != "patches.py"}


def test_the_list_is_well_formed() -> None:
    ids = [p.id for p in patches.ALL]
    assert len(ids) == len(set(ids)), f"a patch id listed twice: {ids}"
    names = {w.__temporal_workflow_definition.name for w in WORKFLOWS}
    for p in patches.ALL:
        assert re.fullmatch(r"gantry-[a-z0-9]+(-[a-z0-9]+)*", p.id), p.id
        date.fromisoformat(p.added)
        assert re.fullmatch(r"[0-9a-f]{7,40}", p.since), f"{p.id}: since must be a commit, not {p.since!r}"
        assert p.workflows and set(p.workflows) <= names, f"{p.id}: unknown workflow in {p.workflows}"
        assert p.state in ("patched", "deprecated") and p.what
    listed = {name for name, value in vars(patches).items() if isinstance(value, patches.Patch)}
    assert len(listed) == len(patches.ALL), "every Patch constant is in ALL"


def test_workflow_code_takes_its_patch_ids_from_the_list() -> None:
    """No patch id is spelled outside workflows/patches.py: not as a literal given to
    workflow.patched/deprecate_patch (or bugs.handles), nor as a `..._PATCH = "..."` constant."""
    found = []
    for file, tree in sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                args = node.args if name in PATCH_CALLS else node.args[1:2] if name == "handles" else []
                found += [f"{file}:{a.lineno}: {name}({a.value!r})" for a in args if isinstance(a, ast.Constant)]
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.endswith("_PATCH"):
                        found.append(f"{file}:{node.lineno}: {target.id} = {node.value.value!r}")
    assert not found, (
        "patch ids belong in workflows/patches.py (a Patch with its date and first commit, added to ALL); "
        "take them from there:\n" + "\n".join(found)
    )


def test_every_listed_patch_is_used() -> None:
    """A listed patch the code no longer names was removed too early or is a leftover."""
    used: set[str] = set()
    for tree in sources().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "patches":
                used.add(node.attr)
            if isinstance(node, ast.ImportFrom) and node.module == "workflows.patches":
                used.update(a.name for a in node.names)
    constants = {name for name, value in vars(patches).items() if isinstance(value, patches.Patch)}
    assert constants <= used, f"listed but never used in workflows/: {sorted(constants - used)}"


#: patches whose new path runs only when workflow code hits a bug: tests/integration/
#: test_workflow_faults.py drives them with an injected fault, no recorded scenario can
ONLY_ON_A_BUG = {patches.BUG_ENDS_PROMOTION.id, patches.BUG_SURVIVED.id}


def test_every_patch_is_in_a_recorded_history() -> None:
    """A patch's new path is replay-tested: some history under tests/fixtures/histories holds
    its marker (scripts/record_histories.py records a scenario that takes it)."""
    found = set()
    for path in sorted((Path(__file__).resolve().parents[1] / "fixtures" / "histories").glob("*/*.json")):
        data = json.loads(path.read_text())
        for event in data.get("events", []) if isinstance(data, dict) else []:
            marker = event.get("markerRecordedEventAttributes") or {}
            if marker.get("markerName") == "core_patch":
                for payload in marker["details"]["patch-data"]["payloads"]:
                    found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    missing = [p.id for p in patches.ALL if p.id not in found and p.id not in ONLY_ON_A_BUG]
    assert not missing, f"no recorded history takes these patches (add a scenario): {missing}"
