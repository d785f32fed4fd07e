"""semverParse() and semverDiff(), as Kargo implements them with Masterminds/semver.

Masterminds' NewVersion is lenient: a leading `v` and missing minor/patch parts
("1.2", "v3") are accepted. semverParse returns a version record with methods
Major(), Minor(), Patch(), Prerelease(), Metadata(), IncMajor(), IncMinor(),
IncPatch(), String(), Original().
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.values import Function, Record

_VERSION = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
)


def parse_version(text: str) -> tuple[int, int, int, str, str] | None:
    match = _VERSION.match(text)
    if not match:
        return None
    major = int(match.group(1))
    minor = int(match.group(2)[1:]) if match.group(2) else 0
    patch = int(match.group(3)[1:]) if match.group(3) else 0
    pre = match.group(5) or ""
    meta = match.group(8) or ""
    for ident in pre.split(".") if pre else []:
        if ident.isdigit() and len(ident) > 1 and ident.startswith("0"):
            return None  # numeric prerelease identifiers cannot have leading zeros
    if max(major, minor, patch) >= 2**64:
        return None
    return major, minor, patch, pre, meta


def _text(major: int, minor: int, patch: int, pre: str, meta: str) -> str:
    out = f"{major}.{minor}.{patch}"
    if pre:
        out += "-" + pre
    if meta:
        out += "+" + meta
    return out


def _method(fn: Any, name: str) -> Function:
    def call(record: Record, *args: Any) -> Any:
        if args:
            raise ExpressionError(f"{name}() takes no arguments")
        return fn(record)

    return Function(call, name)


def version_record(major: int, minor: int, patch: int, pre: str, meta: str, original: str) -> Record:
    text = _text(major, minor, patch, pre, meta)
    return Record(
        "*semver.Version",
        (),
        {"major": major, "minor": minor, "patch": patch, "pre": pre, "metadata": meta, "original": original},
        methods=_METHODS,
        json_value=text,
        text=text,
    )


def _bump(record: Record, part: str) -> Record:
    v = record.values
    prefix = "v" if v["original"].startswith("v") else ""
    major, minor, patch = v["major"], v["minor"], v["patch"]
    if part == "major":
        major, minor, patch = major + 1, 0, 0
    elif part == "minor":
        minor, patch = minor + 1, 0
    elif not v["pre"]:
        patch += 1  # a prerelease's next patch is the release itself
    text = _text(major, minor, patch, "", "")
    return version_record(major, minor, patch, "", "", prefix + text)


_METHODS: dict[str, Function] = {
    "Major": _method(lambda r: r.values["major"], "Major"),
    "Minor": _method(lambda r: r.values["minor"], "Minor"),
    "Patch": _method(lambda r: r.values["patch"], "Patch"),
    "Prerelease": _method(lambda r: r.values["pre"], "Prerelease"),
    "Metadata": _method(lambda r: r.values["metadata"], "Metadata"),
    "Original": _method(lambda r: r.values["original"], "Original"),
    "String": _method(lambda r: r.text, "String"),
    "IncMajor": _method(lambda r: _bump(r, "major"), "IncMajor"),
    "IncMinor": _method(lambda r: _bump(r, "minor"), "IncMinor"),
    "IncPatch": _method(lambda r: _bump(r, "patch"), "IncPatch"),
}


def semver_parse(*args: Any) -> Record:
    if len(args) != 1:
        raise ExpressionError(f"semverParse: expected 1 argument, got {len(args)}")
    text = args[0]
    if not isinstance(text, str):
        raise ExpressionError(f"semverParse: argument must be string, got {type(text).__name__}")
    parsed = parse_version(text)
    if parsed is None:
        raise ExpressionError(f"semverParse: invalid semantic version: {text!r}")
    return version_record(*parsed, original=text)


def semver_diff(*args: Any) -> str:
    """"Major", "Minor", "Patch", "Metadata", "None" or "Incomparable" (as Kargo: a
    prerelease-only difference is "None")."""
    if len(args) != 2:
        raise ExpressionError(f"semverDiff: expected 2 arguments, got {len(args)}")
    for index, value in enumerate(args):
        if not isinstance(value, str):
            which = "first" if index == 0 else "second"
            raise ExpressionError(f"semverDiff: {which} argument must be string")
    a, b = parse_version(args[0]), parse_version(args[1])
    if a is None or b is None:
        return "Incomparable"
    if a[0] != b[0]:
        return "Major"
    if a[1] != b[1]:
        return "Minor"
    if a[2] != b[2]:
        return "Patch"
    if a[4] != b[4]:
        return "Metadata"
    return "None"
