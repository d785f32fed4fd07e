"""YAML and JSON loading whose cost is bounded by the size of the text (pure: no I/O, no clock).

Everything Gantry reads as YAML or JSON can come from someone it does not trust: manifests,
files committed to a GitOps repository, HTTP responses, Helm repository indexes. Two cheap
inputs are expensive to load with a plain parser:

* **Alias bombs** ("billion laughs"): nine levels of ``&b [*a,*a,*a,...]`` is 400 bytes of
  text and a billion nodes once anything walks it. We count, on the *composed* node graph and
  before any Python object is constructed, how many nodes the document would have with every
  alias expanded where it is used (a memoised walk, linear in the composed graph). More than
  :data:`MAX_ALIAS_EXPANSION` nodes added by aliases is refused, as is an alias that refers to
  a node containing it (a recursive document, which Go's yaml.v3 refuses too).
* **Deep nesting**: 5,000 nested ``[`` makes every recursive walker (ruamel's own composer,
  Python's json module, pydantic, the JSON encoder Temporal uses for payloads) raise
  RecursionError. Nesting is bounded at :data:`MAX_DEPTH` levels, checked while composing
  (ruamel's composer recurses once per level, so the check fires long before Python's stack
  limit) and, for JSON, by a walk that uses an explicit stack.

:data:`MAX_DEPTH` is 200: real manifests, Helm values and API responses nest a few tens of
levels at most, while Python's default recursion limit (1,000 frames) is shared between the
composer (two frames per level), the code that walks the loaded data afterwards (one or
more frames per level: manifest line tracking, pydantic, json.dumps) and whatever is already
on the stack (Temporal's activity machinery, the CLI). 200 leaves each of them room.

Errors are :class:`YAMLLimitError` (a ruamel ``YAMLError`` with the line and column, so every
existing ``except YAMLError`` handler reports it) and :class:`JSONLimitError` (a
``json.JSONDecodeError``, so every existing ``except ValueError`` handler does too).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.scanner import Scanner

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "MAX_DEPTH",
    "JSONLimitError",
    "YAMLLimitError",
    "json_loads",
    "load",
    "load_all",
    "make_yaml",
]

MAX_DEPTH = 200
MAX_ALIAS_EXPANSION = 100_000

Flavour = Literal["safe", "rt"]


class YAMLLimitError(ComposerError):
    """A YAML document that is too deep or whose aliases expand too far."""


class JSONLimitError(json.JSONDecodeError):
    """A JSON document nested deeper than :data:`MAX_DEPTH`."""


# --- YAML -----------------------------------------------------------------------------------


class _BoundedComposer(Composer):
    """ruamel's composer with a depth bound and an alias-expansion bound per document."""

    def compose_document(self) -> Any:
        self._gantry_aliases = 0
        node = super().compose_document()
        if self._gantry_aliases:
            _check_expansion(node)
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            self._gantry_aliases = getattr(self, "_gantry_aliases", 0) + 1
            if self._gantry_aliases > MAX_ALIAS_EXPANSION:
                raise _too_many_aliases(self.parser.peek_event().start_mark)
        elif self.depth >= MAX_DEPTH:
            raise YAMLLimitError(
                None,
                None,
                f"YAML nesting is deeper than {MAX_DEPTH} levels",
                self.parser.peek_event().start_mark,
            )
        return super().compose_node(parent, index)


def _too_many_aliases(mark: Any) -> YAMLLimitError:
    return YAMLLimitError(
        None,
        None,
        f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes (an alias bomb?)",
        mark,
    )


def _children(node: Any) -> list[Any]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Any) -> None:
    """Refuse a document whose aliases add more than MAX_ALIAS_EXPANSION nodes, or that
    contains itself. Iterative, memoised by node: linear in the composed graph."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    unique = 0
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            size[key] = total
            if total - unique > MAX_ALIAS_EXPANSION:
                raise _too_many_aliases(node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YAMLLimitError(
                None, None, "a YAML alias refers to a node that contains it (a recursive document)", node.start_mark
            )
        on_path.add(key)
        unique += 1
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


@functools.cache
def _bounded_scanner(base: type) -> type:
    class BoundedScanner(base):  # type: ignore[valid-type,misc]
        def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
            # ruamel's scanner keeps a possible simple key per open flow collection and walks
            # them all for every token: 5,000 nested brackets take seconds before the composer
            # sees a node. Stop at the bound as the bracket is scanned.
            if self.flow_level >= MAX_DEPTH:
                raise YAMLLimitError(
                    None, None, f"YAML nesting is deeper than {MAX_DEPTH} levels", self.reader.get_mark()
                )
            super().fetch_flow_collection_start(TokenClass, to_push)

    BoundedScanner.__name__ = BoundedScanner.__qualname__ = f"Bounded{base.__name__}"
    return BoundedScanner


def make_yaml(typ: Flavour = "safe") -> YAML:
    """A ruamel ``YAML`` instance (pure Python) whose loads are bounded; callers may set its
    dumping options (indentation, quotes) as with any other."""
    y = YAML(typ=typ, pure=True)
    y.Scanner = _bounded_scanner(y.Scanner or Scanner)
    y.Composer = _BoundedComposer
    return y


def _recursion(exc: RecursionError) -> YAMLLimitError:
    return YAMLLimitError(None, None, f"YAML nesting is too deep (over {MAX_DEPTH} levels)", None)


def load_with(y: YAML, text: str) -> Any:
    """``y.load(text)`` for a YAML from :func:`make_yaml`, RecursionError made a YAMLLimitError."""
    try:
        return y.load(text)
    except RecursionError as e:
        raise _recursion(e) from None


def load_all_with(y: YAML, text: str) -> list[Any]:
    """Every document of ``text``, as :func:`load_with` does one."""
    try:
        return list(y.load_all(text))
    except RecursionError as e:
        raise _recursion(e) from None


def load(text: str, typ: Flavour = "safe") -> Any:
    """The one document in ``text`` (``safe``: plain Python data; ``rt``: ruamel's
    round-trip objects). Raises a ruamel YAMLError, YAMLLimitError for the bounds above."""
    return load_with(make_yaml(typ), text)


def load_all(text: str, typ: Flavour = "safe") -> list[Any]:
    """Every document in ``text``, as :func:`load` does one."""
    return load_all_with(make_yaml(typ), text)


# --- JSON -----------------------------------------------------------------------------------


def _depth_exceeded(value: Any) -> bool:
    """Whether a loaded value nests deeper than MAX_DEPTH (explicit stack, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            items: Any = v.values()
        elif isinstance(v, list):
            items = v
        else:
            continue
        if d > MAX_DEPTH:
            return True
        stack.extend((c, d + 1) for c in items if isinstance(c, (dict, list)))
    return False


def _deep_position(text: str) -> int:
    """Index of the first bracket past MAX_DEPTH (strings skipped), for the error message."""
    depth = 0
    in_string = escaped = False
    for i, c in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif c in "]}":
            depth -= 1
    return 0


def json_loads(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    """``json.loads`` that raises JSONLimitError (a JSONDecodeError) instead of
    RecursionError, and for any document nested deeper than MAX_DEPTH."""
    if isinstance(data, (bytes, bytearray)):
        opens = data.count(b"[") + data.count(b"{")
    else:
        opens = data.count("[") + data.count("{")
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        value = None
        deep = True
    else:
        # Fewer brackets than the bound cannot nest past it: the common case costs two counts.
        deep = opens > MAX_DEPTH and _depth_exceeded(value)
    if deep:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
        raise JSONLimitError(f"JSON nesting is deeper than {MAX_DEPTH} levels", text, _deep_position(text))
    return value
