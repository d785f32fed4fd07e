"""Bytecode for the workflow modules, written when a worker starts.

Temporal's sandbox imports a workflow's module afresh for every workflow run it creates
(that is how it keeps runs apart). Python loads a module from its cached bytecode when there
is one; without it (PYTHONDONTWRITEBYTECODE set, as many container images do, or a tree
nobody has imported from yet) every run compiles the source again: about 12 ms for
`workflows/promotion.py` on a 2-core machine, a fifth of a no-op promotion's workflow-task
time (docs/architecture.md, "Speed"). `py_compile` writes the cache whatever that variable
says; a tree the worker may not write to is left as it is (only slower)."""

from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path


def compile_modules(package_dir: Path) -> int:
    """Write the missing or stale bytecode of the package's modules; how many were written."""
    written = 0
    for source in sorted(package_dir.glob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        try:
            if cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime:
                continue
            py_compile.compile(str(source), cfile=str(cached), doraise=True)
        except (OSError, py_compile.PyCompileError):
            continue  # read-only, or a module that does not compile (its import says why)
        written += 1
    return written
