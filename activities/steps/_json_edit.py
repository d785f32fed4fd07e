"""In-place JSON edits that keep the rest of the text as it was (spacing, key order,
indentation), for ``json-update``. Paths use Kargo's (sjson) syntax: ``a.b``, a list index
``items.0``, ``-1`` to append to a list, ``\\.`` for a literal dot and a leading ``:`` to
force an object key that looks like a number (``labels.:1``), split by ``_keys.split_key``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from activities.steps._keys import KeySyntaxError, split_key


class JSONEditError(ValueError):
    pass


@dataclass
class Node:
    kind: str  # "object" | "array" | "scalar"
    start: int
    end: int  # exclusive
    members: list[tuple[str, int, "Node"]] = field(default_factory=list)  # objects: (key, key start, value)
    items: list["Node"] = field(default_factory=list)  # arrays


_decoder = json.JSONDecoder()
_WS = " \t\r\n"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def parse(text: str, i: int = 0) -> Node:
    """The JSON value starting at (or after whitespace from) ``i``, with the span of every part."""
    i = _skip(text, i)
    if i >= len(text):
        raise JSONEditError("unexpected end of the document")
    ch = text[i]
    if ch == "{":
        node = Node("object", i, i)
        j = _skip(text, i + 1)
        if j < len(text) and text[j] == "}":
            node.end = j + 1
            return node
        while True:
            j = _skip(text, j)
            if j >= len(text) or text[j] != '"':
                raise JSONEditError(f"expected a key at offset {j}")
            key, after = _decoder.raw_decode(text, j)
            k_start = j
            j = _skip(text, after)
            if j >= len(text) or text[j] != ":":
                raise JSONEditError(f"expected ':' at offset {j}")
            value = parse(text, j + 1)
            node.members.append((key, k_start, value))
            j = _skip(text, value.end)
            if j < len(text) and text[j] == ",":
                j += 1
                continue
            if j < len(text) and text[j] == "}":
                node.end = j + 1
                return node
            raise JSONEditError(f"expected ',' or '}}' at offset {j}")
    if ch == "[":
        node = Node("array", i, i)
        j = _skip(text, i + 1)
        if j < len(text) and text[j] == "]":
            node.end = j + 1
            return node
        while True:
            item = parse(text, j)
            node.items.append(item)
            j = _skip(text, item.end)
            if j < len(text) and text[j] == ",":
                j += 1
                continue
            if j < len(text) and text[j] == "]":
                node.end = j + 1
                return node
            raise JSONEditError(f"expected ',' or ']' at offset {j}")
    try:
        _, end = _decoder.raw_decode(text, i)
    except json.JSONDecodeError as e:
        raise JSONEditError(str(e)) from None
    return Node("scalar", i, end)


def parse_document(text: str) -> Node | None:
    if not text.strip():
        return None
    node = parse(text)
    if _skip(text, node.end) != len(text):
        raise JSONEditError(f"extra data after the document at offset {_skip(text, node.end)}")
    return node


def split_path(key: str) -> list[tuple[str, bool]]:
    """Path parts (``_keys.split_key``), each with whether it was forced to be an object key."""
    try:
        parts = split_key(key)
    except KeySyntaxError as e:
        raise JSONEditError(str(e)) from None
    for p in parts:
        if p.wildcard:
            raise JSONEditError(f"wildcards are not supported in keys ({p.name!r}; escape them with a backslash)")
    return [(p.name, p.forced) for p in parts]


def _index(part: str, forced: bool) -> int | None:
    if forced:
        return None
    if part == "-1":
        return -1
    return int(part) if part.isdigit() else None


def _build(parts: list[tuple[str, bool]], value: str) -> str:
    if not parts:
        return value
    (part, forced), rest = parts[0], parts[1:]
    idx = _index(part, forced)
    if idx is not None:
        return "[" + "null," * max(idx, 0) + _build(rest, value) + "]"
    return "{" + json.dumps(part, ensure_ascii=False) + ":" + _build(rest, value) + "}"


def _line_indent(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    j = line_start
    while j < len(text) and text[j] in " \t":
        j += 1
    return text[line_start:j]


def _insert(text: str, container: Node, piece: str, last_end: int | None, last_start: int | None) -> str:
    """Add ``piece`` (a member or an item) at the end of ``container``, styled like its siblings."""
    if last_end is None or last_start is None:
        # empty container: multi-line if it spans lines
        inner = text[container.start + 1 : container.end - 1]
        if "\n" in inner:
            indent = _line_indent(text, container.start)
            new = "\n" + indent + "  " + piece + "\n" + indent
            return text[: container.start + 1] + new + text[container.end - 1 :]
        return text[: container.start + 1] + piece + text[container.end - 1 :]
    # the whitespace in front of the last sibling is the separator the file uses
    j = last_start
    while j > container.start + 1 and text[j - 1] in _WS:
        j -= 1
    return text[:last_end] + "," + text[j:last_start] + piece + text[last_end:]


def set_value(text: str, key: str, value: Any) -> str:
    """``text`` with the value at ``key`` set to ``value`` (missing keys are created)."""
    parts = split_path(key)
    encoded = json.dumps(value, ensure_ascii=False)
    root = parse_document(text)
    if root is None:
        built = _build(parts, encoded)
        return built if not text else text.rstrip(_WS) + built + text[len(text.rstrip(_WS)):]
    node = root
    for depth, (part, forced) in enumerate(parts):
        rest = parts[depth + 1 :]
        if node.kind == "object":
            match = next((v for k, _, v in node.members if k == part), None)
            if match is not None:
                node = match
                continue
            colon = ":"
            if node.members:
                k0, ks0, v0 = node.members[0]
                after_key = _decoder.raw_decode(text, ks0)[1]
                colon = text[after_key : v0.start]
            piece = json.dumps(part, ensure_ascii=False) + colon + _build(rest, encoded)
            last = node.members[-1][2].end if node.members else None
            first = node.members[-1][1] if node.members else None
            return _insert(text, node, piece, last, first)
        if node.kind == "array":
            idx = _index(part, forced)
            if idx is None:
                raise JSONEditError(f"{'.'.join(p for p, _ in parts[: depth + 1])!r}: {part!r} is not an index of a list")
            if 0 <= idx < len(node.items):
                node = node.items[idx]
                continue
            fill = max(idx - len(node.items), 0) if idx >= 0 else 0
            piece = "null," * fill + _build(rest, encoded)
            last = node.items[-1].end if node.items else None
            first = node.items[-1].start if node.items else None
            return _insert(text, node, piece, last, first)
        # a scalar where the path goes on: replace it, as sjson does
        return text[: node.start] + _build(parts[depth:], encoded) + text[node.end :]
    return text[: node.start] + encoded + text[node.end :]
