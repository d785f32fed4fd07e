"""client/bytecode.py: the workflow modules' bytecode is written once, and refreshed when a
module changes (the sandbox imports them afresh for every workflow run)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from client.bytecode import compile_modules


def test_missing_bytecode_is_written_once_and_a_changed_module_again(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("X = 1\n")
    (tmp_path / "two.py").write_text("Y = 2\n")
    assert compile_modules(tmp_path) == 2
    assert Path(importlib.util.cache_from_source(str(tmp_path / "one.py"))).exists()
    assert compile_modules(tmp_path) == 0, "fresh bytecode is left alone"
    later = (tmp_path / "one.py").stat().st_mtime + 5
    (tmp_path / "one.py").write_text("X = 3\n")
    os.utime(tmp_path / "one.py", (later, later))
    assert compile_modules(tmp_path) == 1


def test_a_module_that_does_not_compile_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "fine.py").write_text("Z = 1\n")
    assert compile_modules(tmp_path) == 1, "its import, not the worker's start, says what is wrong"
