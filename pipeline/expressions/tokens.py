"""Tokenizer for expr-lang source text.

Follows expr-lang's lexer (parser/lexer in github.com/expr-lang/expr): the same
literals, operators, word operators and comments, so that anything Kargo or Argo
Rollouts accepts splits into the same tokens here.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.expressions.errors import ExpressionError

MAX_LENGTH = 10_000

# Token kinds.
INT = "int"
FLOAT = "float"
STRING = "string"
IDENT = "ident"
OP = "op"
BRACKET = "bracket"
POINTER = "pointer"  # `#`, `#index`, `#acc`: value is the name after `#`
EOF = "eof"

WORD_OPERATORS = frozenset(
    {"not", "in", "or", "and", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"}
)
_TWO_CHAR = frozenset({"==", "!=", "<=", ">=", "&&", "||", "**", "??", "?.", "..", "::"})
_ONE_CHAR = frozenset("+-*/%^<>!=|&:,;.?")
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?",
}
_HEX = "0123456789abcdefABCDEF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: object
    pos: int

    def describe(self) -> str:
        if self.kind == EOF:
            return "end of expression"
        if self.kind == STRING:
            return f"string {self.value!r}"
        if self.kind == POINTER:
            return f"`#{self.value}`"
        return f"`{self.value}`"


def _is_alpha(ch: str) -> bool:
    return ch == "_" or ch == "$" or ch.isalpha()


def _is_alnum(ch: str) -> bool:
    return _is_alpha(ch) or ch.isdigit()


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; the last one is always EOF."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is too long ({len(text)} characters, limit {MAX_LENGTH})", expression=text)
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            if end < 0:
                raise ExpressionError("unclosed comment", expression=text, position=i)
            i = end + 2
            continue
        if ch in "'\"":
            value, i2 = _scan_quoted(text, i)
            tokens.append(Token(STRING, value, i))
            i = i2
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExpressionError("unterminated string: expected a closing backtick", expression=text, position=i)
            tokens.append(Token(STRING, text[i + 1 : end].replace("\r\n", "\n").replace("\r", "\n"), i))
            i = end + 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            tok, i = _scan_number(text, i)
            tokens.append(tok)
            continue
        if _is_alpha(ch):
            j = i + 1
            while j < n and _is_alnum(text[j]):
                j += 1
            word = text[i:j]
            tokens.append(Token(OP if word in WORD_OPERATORS else IDENT, word, i))
            i = j
            continue
        if ch == "#":
            j = i + 1
            while j < n and _is_alnum(text[j]):
                j += 1
            tokens.append(Token(POINTER, text[i + 1 : j], i))
            i = j
            continue
        if ch in "([{" or ch in ")]}":
            tokens.append(Token(BRACKET, ch, i))
            i += 1
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR:
            tokens.append(Token(OP, two, i))
            i += 2
            continue
        if ch in _ONE_CHAR:
            tokens.append(Token(OP, ch, i))
            i += 1
            continue
        raise ExpressionError(f"unrecognized character {ch!r}", expression=text, position=i)
    tokens.append(Token(EOF, None, len(text.rstrip())))
    return tokens


def _scan_quoted(text: str, start: int) -> tuple[str, int]:
    """A '...' or "..." string with expr-lang's escapes; returns (value, index after it)."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while True:
        if i >= n:
            raise ExpressionError("unterminated string literal", expression=text, position=start)
        ch = text[i]
        if ch == quote:
            return "".join(out).replace("\r\n", "\n").replace("\r", "\n"), i + 1
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise ExpressionError("unterminated string literal", expression=text, position=start)
        esc = text[i + 1]
        i += 2
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif esc == "u" and i < n and text[i] == "{":
            end = text.find("}", i)
            digits = text[i + 1 : end] if end > 0 else ""
            if not digits or len(digits) > 6 or any(c not in _HEX for c in digits):
                raise ExpressionError("invalid \\u{...} escape in string", expression=text, position=i - 2)
            out.append(_code_point(int(digits, 16), text, i - 2))
            i = end + 1
        elif esc in "xXuU":
            width = {"x": 2, "X": 2, "u": 4, "U": 8}[esc]
            digits = text[i : i + width]
            if len(digits) != width or any(c not in _HEX for c in digits):
                raise ExpressionError(f"invalid \\{esc} escape in string", expression=text, position=i - 2)
            out.append(_code_point(int(digits, 16), text, i - 2))
            i += width
        elif esc in "0123":
            digits = esc + text[i : i + 2]
            if len(digits) != 3 or any(c not in "01234567" for c in digits):
                raise ExpressionError("invalid octal escape in string", expression=text, position=i - 2)
            out.append(chr(int(digits, 8)))
            i += 2
        else:
            raise ExpressionError(f"unknown escape sequence \\{esc} in string", expression=text, position=i - 2)


def _code_point(value: int, text: str, pos: int) -> str:
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise ExpressionError("escape is not a valid Unicode code point", expression=text, position=pos)
    return chr(value)


def _scan_number(text: str, start: int) -> tuple[Token, int]:
    n = len(text)
    i = start
    digits = "0123456789_"
    base_prefix = False
    if text[i] == "0" and i + 1 < n and text[i + 1] in "xXoObB":
        base_prefix = True
        digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[text[i + 1].lower()]
        i += 2
    while i < n and text[i] in digits:
        i += 1
    is_float = False
    if not base_prefix and i < n and text[i] == ".":
        if i + 1 < n and text[i + 1] == ".":
            pass  # `1..3`: a range, the number ends here
        else:
            is_float = True
            i += 1
            while i < n and text[i] in digits:
                i += 1
    if not base_prefix and i < n and text[i] in "eE":
        is_float = True
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        while i < n and text[i] in digits:
            i += 1
    if i < n and _is_alnum(text[i]):
        raise ExpressionError(f"bad number syntax: {text[start:i + 1]!r}", expression=text, position=start)
    raw = text[start:i].replace("_", "")
    try:
        if is_float:
            value: object = float(raw)
            if value == float("inf"):
                raise ExpressionError("float literal is too large", expression=text, position=start)
            return Token(FLOAT, value, start), i
        value = int(raw, 0) if base_prefix else int(raw, 10)
    except ValueError:
        raise ExpressionError(f"bad number syntax: {text[start:i]!r}", expression=text, position=start) from None
    if value > 2**63 - 1:
        raise ExpressionError("integer literal is too large", expression=text, position=start)
    return Token(INT, value, start), i
