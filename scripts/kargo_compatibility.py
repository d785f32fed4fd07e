#!/usr/bin/env python
"""Regenerate docs/kargo-compatibility.md from the code's registries (pipeline/compatibility.py).

    PYTHONPATH=$PWD python -m scripts.kargo_compatibility

tests/unit/test_kargo_compatibility.py fails until the committed file matches the code.
"""

from __future__ import annotations

from pathlib import Path

from client.kargo_verbs import KARGO_VERBS
from pipeline.compatibility import render

DOC = Path(__file__).resolve().parent.parent / "docs" / "kargo-compatibility.md"

if __name__ == "__main__":
    DOC.write_text(render(KARGO_VERBS), encoding="utf-8")
    print(f"wrote {DOC}")
