"""The dotted key syntax of ``yaml-update`` and ``json-update``: one parser for both.

Kargo documents both steps' keys as tidwall/sjson's path syntax, and splits them with the
same rules (its ``pkg/sjson.SplitKey`` for YAML, sjson itself for JSON):

- ``.`` separates parts: ``image.tag``; a list index is a part of digits: ``items.0``;
- a backslash makes the next character literal: ``example\\.com/version`` is one part,
  ``\\:``, ``\\*``, ``\\\\`` likewise;
- a **trailing backslash** escapes nothing and is dropped (``tag\\`` is ``tag``), as in both
  of Kargo's parsers;
- a ``:`` at the start of a part forces it to be an object key even if it looks like an
  index (``labels.:1``); elsewhere a ``:`` is an ordinary character;
- surrounding whitespace is ignored; an empty key or an empty part (``a..b``, ``.a``,
  ``a.``) is an error.

Unescaped ``*`` and ``?`` are sjson's wildcards; each part says whether it holds one, and
``json-update`` (like sjson's ``Set``) refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass


class KeySyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class KeyPart:
    name: str
    forced: bool = False  # a leading unescaped ':': an object key even if it looks like an index
    wildcard: bool = False  # holds an unescaped '*' or '?'


def split_key(key: str) -> list[KeyPart]:
    """The parts of a dotted key (see the module docstring for the syntax)."""
    key = key.strip()
    if not key:
        raise KeySyntaxError("empty key")
    parts: list[KeyPart] = []
    cur: list[str] = []
    forced = wildcard = escaped = False

    def close() -> None:
        nonlocal cur, forced, wildcard
        if not cur:
            raise KeySyntaxError(f"empty key part in key {key!r}")
        parts.append(KeyPart("".join(cur), forced, wildcard))
        cur, forced, wildcard = [], False, False

    for ch in key:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ".":
            close()
        elif ch == ":" and not cur and not forced:
            forced = True
        else:
            wildcard = wildcard or ch in "*?"
            cur.append(ch)
    # a trailing backslash (escaped is still set) escapes nothing and is dropped
    close()
    return parts


def key_names(key: str) -> list[str]:
    """The parts of a dotted key as plain names (the ``:`` hints dropped, as Kargo's YAML does)."""
    return [p.name for p in split_key(key)]
