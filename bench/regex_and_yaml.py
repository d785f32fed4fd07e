"""Bad data costs little: hostile regexes and YAML/JSON are answered in milliseconds.

Prints, for each case, the time to an answer (a result or a clear error):
- `repeat("a",26)+"!" matches "^(a|a)*$"` in an expression, a tag filter, a stage selector,
  a path filter and a doublestar glob (target < 10 ms each; Python's `re` took 5 s);
- a YAML alias bomb (9 levels, ~340 bytes) and 5,000 nested brackets, through the loaders
  and `gantry validate` (target < 1 s, process start included);
- the cost of the bounds on ordinary YAML: parsing a 2,000-document manifest file with the
  bounded loader and with plain ruamel.yaml.

Run: .venv/bin/python bench/regex_and_yaml.py   (prints figures; exit 0; not a test)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ruamel.yaml import YAML  # noqa: E402

from pipeline import yamlsafe  # noqa: E402
from pipeline.auto_promotion import auto_promotion_enabled  # noqa: E402
from pipeline.discovery.git_selection import compile_glob, path_filter  # noqa: E402
from pipeline.discovery.selection import filter_tags  # noqa: E402
from pipeline.expressions import evaluate  # noqa: E402
from pipeline.manifests import parse_documents  # noqa: E402
from pipeline.manifests.models import ProjectConfig, Stage  # noqa: E402

SUBJECT = "a" * 26 + "!"
EVIL = "^(a|a)*$"


def timed(label: str, fn, repeat: int = 1) -> None:
    best = float("inf")
    outcome = ""
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            outcome = repr(fn())[:60]
        except Exception as e:  # noqa: BLE001 - an error is an answer here
            outcome = f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"
        best = min(best, time.perf_counter() - started)
    print(f"  {label:<44} {best * 1000:9.3f} ms   {outcome}")


def bomb(levels: int = 9) -> str:
    lines, prev = ["a: &a [x,x,x,x,x,x,x,x,x]"], "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


def stage(name: str) -> Stage:
    return Stage.model_validate({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage", "metadata": {"name": name, "namespace": "p"},
        "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": True}}]},
    })


def main() -> None:
    print("== regexes (RE2): 26 a's and a '!' against ^(a|a)*$ (the first line includes compiling it)")
    timed("expression `matches`", lambda: evaluate(f'"{SUBJECT}" matches "{EVIL}"', {}))
    timed("tag filter (allowTagsRegexes)", lambda: filter_tags([SUBJECT], allow_regexes=[EVIL]))
    config = ProjectConfig.model_validate({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "ProjectConfig", "metadata": {"name": "p", "namespace": "p"},
        "spec": {"promotionPolicies": [{"stageSelector": {"name": f"regex:{EVIL}"}, "autoPromotionEnabled": True}]},
    })
    evil_stage = stage("a" * 26 + "-x")
    timed("stage selector (regex:)", lambda: auto_promotion_enabled(config, evil_stage))
    timed("path filter (regex:)", lambda: path_filter([f"regex:{EVIL}"]).matches([SUBJECT]))
    timed("glob {a,a}x30 + b against 40 a's", lambda: compile_glob("{a,a}" * 30 + "b").fullmatch("a" * 40))
    timed("lookahead refused (matches 'a(?=b)')", lambda: evaluate("'ab' matches 'a(?=b)'", {}))

    print("\n== YAML and JSON bounds")
    deep = "[" * 5000 + "]" * 5000
    text = bomb()
    timed(f"alias bomb ({len(text)} bytes), safe load", lambda: yamlsafe.load(text))
    timed("alias bomb, round-trip load", lambda: yamlsafe.load(text, "rt"))
    timed("5,000 nested [ ], safe load", lambda: yamlsafe.load(deep))
    timed("5,000 nested { }, round-trip load", lambda: yamlsafe.load("{" * 5000, "rt"))
    timed("5,000 nested [ ], JSON", lambda: yamlsafe.json_loads(deep))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bomb.yaml").write_text(bomb(10).ljust(1000, "\n"))
        (Path(tmp) / "deep.yaml").write_text(deep)
        gantry = ROOT / ".venv" / "bin" / "gantry"
        for name in ("bomb.yaml", "deep.yaml"):
            def run(name: str = name) -> str:
                p = subprocess.run([str(gantry), "validate", "-f", str(Path(tmp) / name)], capture_output=True, text=True)
                return f"exit {p.returncode}: {(p.stdout + p.stderr).splitlines()[0].replace(tmp + '/', '')}"
            timed(f"gantry validate -f {name} (whole process)", run)

    doc = (ROOT / "examples" / "quickstart" / "manifests" / "stages.yaml").read_text()
    big = "\n---\n".join([doc] * 60)
    print(f"\n== ordinary manifests: quickstart stages.yaml x 60 ({big.count('kind:')} documents, {len(big) // 1000} KB), best of 3")
    timed("plain ruamel.yaml round-trip load_all", lambda: len(list(YAML(typ="rt").load_all(big))), repeat=3)
    timed("bounded round-trip load_all", lambda: len(yamlsafe.load_all(big, "rt")), repeat=3)
    timed("parse_documents (what validate does)", lambda: len(parse_documents(big, "big.yaml")), repeat=3)


if __name__ == "__main__":
    main()
