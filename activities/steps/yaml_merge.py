"""`yaml-merge`: merge YAML files into one, later files winning.

As in Kargo (kyaml's merge): mappings merge key by key, anything else (lists included)
is replaced by the later file, and a ``null`` in a later file removes the key. Empty
input files are skipped. With ``ignoreMissingFiles`` a missing input is skipped,
otherwise it fails the step. The result keeps the comments and indentation of the first
file. The output's parent directory is created. Output: ``commitMessage``, as Kargo
writes it (none when no input file was there).

Idempotent: merging the same inputs again writes the same file.
"""

from __future__ import annotations

import copy as _copy
import io
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.steps import _safe_paths, _yaml
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.yaml_merge import YAMLMergeConfig


def merge(base: Any, patch: Any) -> Any:
    """``patch`` merged over ``base``: mappings recursively, everything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            if value is None:
                base.pop(key, None)
            elif key in base and isinstance(base[key], dict) and isinstance(value, dict):
                base[key] = merge(base[key], value)
            else:
                base[key] = _copy.deepcopy(value)
        return base
    return _copy.deepcopy(patch)


def _run(base: Path, config: YAMLMergeConfig) -> str:
    in_files, out_file, ignore_missing = config.in_files, config.out_file, config.ignore_missing_files
    out = resolve_path(base, out_file, "outFile")
    used: list[str] = []
    merged: Any = None
    y = None
    for i, rel in enumerate(in_files):
        field = f"inFiles[{i}]"
        if not rel:
            raise step_failed(f"config field {field!r} must be a non-empty path")
        p = resolve_path(base, rel, field)
        if not p.exists():
            if ignore_missing:
                continue
            raise step_failed(f"config field {field!r}: file {rel!r} does not exist (set 'ignoreMissingFiles' to skip it)")
        if not p.is_file():
            raise step_failed(f"config field {field!r}: {rel!r} is not a file")
        used.append(rel)
        fy, docs, _ = _yaml.load(p, field)
        doc = next((d for d in docs if d is not None), None)
        if doc is None:
            continue
        if merged is None:
            merged, y = doc, fy
        else:
            merged = merge(merged, doc)
    if out.is_dir():
        raise step_failed(f"config field 'outFile': {out_file!r} is a directory")
    text = ""
    if merged is not None and y is not None:
        buf = io.StringIO()
        y.dump(merged, buf)
        text = buf.getvalue()
    if _safe_paths.read_existing(out) != text.encode():
        _safe_paths.write_file(base, out, text, field="outFile")
    if not used:
        return ""
    if len(used) == 1:
        return f"Wrote {used[0]} to {out_file}"
    return f"Merged {len(used)} YAML files to {out_file}" + "".join(f"\n- {u}" for u in used)


@activity.defn(name="yaml-merge")
async def yaml_merge(input: StepInput) -> StepResult:
    """Merge ``inFiles`` into ``outFile``; output ``commitMessage``."""
    config = typed_config(YAMLMergeConfig, input)
    base = require_workdir(input.promotion)
    message = await run_blocking(_run, base, config)
    activity.logger.info("yaml-merge: wrote %s", config.out_file)
    return StepResult(outputs={"commitMessage": message} if message else {})
