"""Parser: tokens to a syntax tree, with expr-lang's grammar and precedence.

Mirrors expr-lang's parser (parser/parser.go and parser/operator in
github.com/expr-lang/expr): the same operator table, `not in`-style negated
operators, chained comparisons (`a < b < c`), pipes, `let`, `if {} else {}`,
predicates with `#`, and the rule that `??` cannot be mixed with other
operators without parentheses.
"""

from __future__ import annotations

from pipeline.expressions import ast
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.tokens import BRACKET, EOF, FLOAT, IDENT, INT, OP, POINTER, STRING, Token, tokenize

MAX_DEPTH = 100

# operator -> (precedence, right associative)
BINARY: dict[str, tuple[int, bool]] = {
    "|": (0, False),
    "or": (10, False), "||": (10, False),
    "and": (15, False), "&&": (15, False),
    "==": (20, False), "!=": (20, False), "<": (20, False), ">": (20, False),
    ">=": (20, False), "<=": (20, False),
    "in": (20, False), "matches": (20, False), "contains": (20, False),
    "startsWith": (20, False), "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False), "-": (30, False),
    "*": (60, False), "/": (60, False), "%": (60, False),
    "**": (100, True), "^": (100, True),
    "??": (500, False),
}
UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
COMPARISONS = frozenset({"<", ">", "<=", ">="})
NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_NORMAL = {"||": "or", "&&": "and", "^": "**", "!": "not"}

# Builtins whose arguments include a predicate (closure), as in expr-lang:
# name -> argument kinds; "p" = predicate, "e" = expression, a trailing "?" = optional.
PREDICATES: dict[str, tuple[str, ...]] = {
    "all": ("e", "p"), "none": ("e", "p"), "any": ("e", "p"), "one": ("e", "p"),
    "filter": ("e", "p"), "map": ("e", "p"),
    "count": ("e", "p?"), "sum": ("e", "p?"),
    "find": ("e", "p"), "findIndex": ("e", "p"), "findLast": ("e", "p"), "findLastIndex": ("e", "p"),
    "groupBy": ("e", "p"), "sortBy": ("e", "p", "e?"), "reduce": ("e", "p", "e?"),
}


def _is_identifier(word: object) -> bool:
    return isinstance(word, str) and bool(word) and (word[0] == "_" or word[0] == "$" or word[0].isalpha())


class Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0
        self.predicate_depth = 0

    # -- token helpers -------------------------------------------------
    @property
    def cur(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if self.i < len(self.tokens) - 1:
            self.i += 1
        return tok

    def is_op(self, *values: str) -> bool:
        tok = self.cur
        return tok.kind == OP and tok.value in values

    def is_bracket(self, value: str) -> bool:
        tok = self.cur
        return tok.kind == BRACKET and tok.value == value

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.cur
        return ExpressionError(message, expression=self.text, position=tok.pos)

    def expect_op(self, value: str) -> Token:
        if not self.is_op(value):
            raise self.error(f"expected `{value}`, found {self.cur.describe()}")
        return self.advance()

    def expect_separator(self, closing: str, opened: Token) -> None:
        """A `,` between items of a list, map or call; names the bracket left open."""
        if self.is_op(","):
            self.advance()
            return
        raise self.error(
            f"expected `,` or `{closing}` to close `{opened.value}` at column {opened.pos + 1}, "
            f"found {self.cur.describe()}"
        )

    def expect_bracket(self, value: str, opened: Token | None = None) -> Token:
        if not self.is_bracket(value):
            hint = f" to close `{opened.value}` at column {opened.pos + 1}" if opened else ""
            raise self.error(f"expected `{value}`{hint}, found {self.cur.describe()}")
        return self.advance()

    # -- grammar -------------------------------------------------------
    def parse(self) -> ast.Node:
        if self.cur.kind == EOF:
            raise self.error("expected an expression, found nothing")
        node = self.parse_sequence()
        if self.cur.kind != EOF:
            raise self.error(f"unexpected {self.cur.describe()}")
        _check_depth(node, self.text)
        return node

    def parse_sequence(self) -> ast.Node:
        first = self.parse_expression(0)
        items = [first]
        while self.is_op(";"):
            self.advance()
            if self.cur.kind == EOF:
                break
            items.append(self.parse_expression(0))
        return first if len(items) == 1 else ast.Sequence(first.pos, items)

    def parse_expression(self, precedence: int) -> ast.Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(f"expression is nested too deeply (limit {MAX_DEPTH})")
        try:
            return self._parse_expression(precedence)
        finally:
            self.nesting -= 1

    def _parse_expression(self, precedence: int) -> ast.Node:
        if precedence == 0 and self.is_op("let"):
            return self.parse_let()
        if precedence == 0 and self.is_op("if"):
            return self.parse_if()
        left = self.parse_primary()
        prev_op = ""
        while self.cur.kind == OP:
            op_tok = self.cur
            negate = False
            if op_tok.value == "not":
                nxt = self.peek()
                if not (nxt.kind == OP and nxt.value in NEGATABLE):
                    raise self.error(f"unexpected `not` before {nxt.describe()}")
                if BINARY[nxt.value][0] < precedence:
                    break
                negate = True
                self.advance()
                op_tok = nxt
            op = op_tok.value
            if op not in BINARY or BINARY[op][0] < precedence:
                break
            prec, right_assoc = BINARY[op]
            self.advance()
            if op == "|":
                name_tok = self.cur
                if name_tok.kind != IDENT:
                    raise self.error(f"expected a function name after `|`, found {name_tok.describe()}")
                self.advance()
                left = self.parse_call(name_tok, [left])
                prev_op = op
                continue
            if prev_op == "??" and op != "??":
                raise self.error(
                    f"operator `{op}` and coalesce expressions (??) cannot be mixed; wrap either in parentheses",
                    op_tok,
                )
            if op in COMPARISONS:
                left = self.parse_comparison(left, op_tok, prec)
                prev_op = op
                continue
            if self.cur.kind == EOF:
                raise self.error("expected an operand, found end of expression")
            right = self.parse_expression(prec if right_assoc else prec + 1)
            left = ast.Binary(op_tok.pos, _NORMAL.get(op, op), left, right)
            if negate:
                left = ast.Unary(op_tok.pos, "not", left)
            prev_op = op
        if precedence == 0:
            left = self.parse_conditional(left)
        return left

    def parse_comparison(self, left: ast.Node, op_tok: Token, prec: int) -> ast.Node:
        """`a < b < c` means `a < b and b < c`, as in expr-lang."""
        root: ast.Node | None = None
        while True:
            if self.cur.kind == EOF:
                raise self.error("expected an operand, found end of expression")
            right = self.parse_expression(prec + 1)
            cmp = ast.Binary(op_tok.pos, op_tok.value, left, right)
            root = cmp if root is None else ast.Binary(op_tok.pos, "and", root, cmp)
            left = right
            if self.cur.kind == OP and self.cur.value in COMPARISONS:
                op_tok = self.advance()
                continue
            return root

    def parse_conditional(self, node: ast.Node) -> ast.Node:
        while self.is_op("?"):
            q = self.advance()
            if self.is_op(":"):
                # `a ?: b` is `a ? a : b` in expr-lang (so `a` must be a bool)
                self.advance()
                otherwise = self.parse_expression(0)
                node = ast.Conditional(q.pos, node, node, otherwise)
                continue
            then = self.parse_expression(0)
            self.expect_op(":")
            otherwise = self.parse_expression(0)
            node = ast.Conditional(q.pos, node, then, otherwise)
        return node

    def parse_let(self) -> ast.Node:
        let_tok = self.expect_op("let")
        name_tok = self.cur
        if name_tok.kind != IDENT:
            raise self.error(f"expected a variable name after `let`, found {name_tok.describe()}")
        self.advance()
        self.expect_op("=")
        value = self.parse_expression(0)
        self.expect_op(";")
        body = self.parse_sequence()
        return ast.Let(let_tok.pos, name_tok.value, value, body)

    def parse_if(self) -> ast.Node:
        if_tok = self.advance()
        cond = self.parse_expression(0)
        opened = self.expect_bracket("{")
        then = self.parse_sequence()
        self.expect_bracket("}", opened)
        self.expect_op("else")
        if self.is_op("if"):
            otherwise = self.parse_if()
        else:
            opened = self.expect_bracket("{")
            otherwise = self.parse_sequence()
            self.expect_bracket("}", opened)
        return ast.Conditional(if_tok.pos, cond, then, otherwise)

    def parse_primary(self) -> ast.Node:
        tok = self.cur
        if tok.kind == OP and tok.value in UNARY:
            self.advance()
            if self.cur.kind == EOF:
                raise self.error("expected an operand, found end of expression")
            operand = self.parse_expression(UNARY[tok.value])
            return self.parse_postfix(ast.Unary(tok.pos, _NORMAL.get(tok.value, tok.value), operand))
        if tok.kind == BRACKET and tok.value == "(":
            self.advance()
            self.nesting += 1
            try:
                inner = self.parse_sequence()
            finally:
                self.nesting -= 1
            self.expect_bracket(")", tok)
            return self.parse_postfix(inner)
        if self.predicate_depth > 0:
            if tok.kind == POINTER:
                self.advance()
                return self.parse_postfix(ast.Pointer(tok.pos, tok.value))
            if tok.kind == OP and tok.value == ".":
                # `.Name` inside a predicate is `#.Name`; the `.` is left for parse_postfix.
                return self.parse_postfix(ast.Pointer(tok.pos, ""))
        return self.parse_secondary()

    def parse_secondary(self) -> ast.Node:
        tok = self.cur
        if tok.kind == IDENT:
            self.advance()
            if tok.value == "true":
                return ast.Literal(tok.pos, True)
            if tok.value == "false":
                return ast.Literal(tok.pos, False)
            if tok.value == "nil":
                return ast.Literal(tok.pos, None)
            if self.is_bracket("("):
                node = self.parse_call(tok, [])
            else:
                node = ast.Identifier(tok.pos, tok.value)
            return self.parse_postfix(node)
        if tok.kind in (INT, FLOAT):
            self.advance()
            return ast.Literal(tok.pos, tok.value)
        if tok.kind == STRING:
            self.advance()
            return self.parse_postfix(ast.Literal(tok.pos, tok.value))
        if tok.kind == BRACKET and tok.value == "[":
            return self.parse_postfix(self.parse_array())
        if tok.kind == BRACKET and tok.value == "{":
            return self.parse_postfix(self.parse_map())
        if tok.kind == POINTER:
            raise self.error("`#` can only be used inside a predicate such as filter(list, # > 1)")
        raise self.error(f"expected an operand, found {tok.describe()}")

    def parse_call(self, name_tok: Token, args: list[ast.Node]) -> ast.Node:
        name = name_tok.value
        spec = PREDICATES.get(name)
        if spec is None:
            return ast.Call(name_tok.pos, name, self.parse_arguments(args))
        opened = self.expect_bracket("(")
        remaining = spec[len(args):]
        required = sum(1 for kind in spec if not kind.endswith("?"))
        for index, kind in enumerate(remaining):
            if self.is_bracket(")"):
                if kind.endswith("?"):
                    break
                raise self.error(f"{name}() expects at least {required} arguments")
            if index > 0:
                self.expect_separator(")", opened)
                if self.is_bracket(")") and kind.endswith("?"):
                    break
            args.append(self.parse_predicate() if kind.startswith("p") else self.parse_expression(0))
        if self.is_op(","):
            self.advance()
        self.expect_bracket(")", opened)
        return ast.Call(name_tok.pos, name, args)

    def parse_arguments(self, args: list[ast.Node]) -> list[ast.Node]:
        offset = len(args)
        opened = self.expect_bracket("(")
        while not self.is_bracket(")"):
            if len(args) > offset:
                self.expect_separator(")", opened)
                if self.is_bracket(")"):
                    break
            if self.cur.kind == EOF:
                break
            args.append(self.parse_expression(0))
        self.expect_bracket(")", opened)
        return args

    def parse_predicate(self) -> ast.Node:
        start = self.cur
        braces = self.is_bracket("{")
        if braces:
            self.advance()
        self.predicate_depth += 1
        try:
            body = self.parse_sequence() if braces else self.parse_expression(0)
        finally:
            self.predicate_depth -= 1
        if braces:
            self.expect_bracket("}", start)
        elif self.is_op(";"):
            raise self.error("wrap a predicate with several expressions in braces { and }")
        return ast.Predicate(start.pos, body)

    def parse_array(self) -> ast.Node:
        opened = self.expect_bracket("[")
        items: list[ast.Node] = []
        while not self.is_bracket("]"):
            if items:
                self.expect_separator("]", opened)
                if self.is_bracket("]"):
                    break
            if self.cur.kind == EOF:
                break
            items.append(self.parse_expression(0))
        self.expect_bracket("]", opened)
        return ast.ArrayLit(opened.pos, items)

    def parse_map(self) -> ast.Node:
        opened = self.expect_bracket("{")
        pairs: list[tuple[ast.Node, ast.Node]] = []
        while not self.is_bracket("}"):
            if pairs:
                self.expect_separator("}", opened)
                if self.is_bracket("}"):
                    break
            tok = self.cur
            if tok.kind in (INT, FLOAT, STRING, IDENT):
                self.advance()
                key: ast.Node = ast.Literal(tok.pos, tok.value if tok.kind == STRING or tok.kind == IDENT else _number_key(tok.value))
            elif tok.kind == BRACKET and tok.value == "(":
                key = self.parse_expression(0)
            else:
                raise self.error(
                    "a map key must be a quoted string, a number, an identifier, "
                    f"or an expression in parentheses; found {tok.describe()}"
                )
            self.expect_op(":")
            pairs.append((key, self.parse_expression(0)))
        self.expect_bracket("}", opened)
        return ast.MapLit(opened.pos, pairs)

    def parse_postfix(self, node: ast.Node) -> ast.Node:
        chained = False
        while True:
            tok = self.cur
            optional = False
            if tok.kind == OP and tok.value in (".", "?."):
                optional = tok.value == "?."
                self.advance()
                if optional and self.is_bracket("["):
                    chained = True
                    node = self._parse_index(node, optional=True)
                    continue
                prop = self.cur
                if not (prop.kind == IDENT or (prop.kind == OP and _is_identifier(prop.value))):
                    raise self.error(f"expected a field name after `{tok.value}`, found {prop.describe()}")
                self.advance()
                if self.is_bracket("("):
                    node = ast.MethodCall(prop.pos, node, prop.value, self.parse_arguments([]), optional)
                else:
                    node = ast.Member(prop.pos, node, ast.Literal(prop.pos, prop.value), optional)
                chained = chained or optional
            elif tok.kind == BRACKET and tok.value == "[":
                node = self._parse_index(node, optional=False)
            else:
                break
        return ast.Chain(node.pos, node) if chained else node

    def _parse_index(self, node: ast.Node, *, optional: bool) -> ast.Node:
        opened = self.expect_bracket("[")
        if self.is_op(":"):
            self.advance()
            stop = None if self.is_bracket("]") else self.parse_expression(0)
            self.expect_bracket("]", opened)
            return ast.Slice(opened.pos, node, None, stop)
        start = self.parse_expression(0)
        if self.is_op(":"):
            self.advance()
            stop = None if self.is_bracket("]") else self.parse_expression(0)
            self.expect_bracket("]", opened)
            return ast.Slice(opened.pos, node, start, stop)
        self.expect_bracket("]", opened)
        return ast.Member(opened.pos, node, start, optional)


def _number_key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def _check_depth(root: ast.Node, text: str) -> None:
    """Reject trees deeper than MAX_DEPTH without recursing (long `a+b+c+...` chains are deep too)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression is nested too deeply (limit {MAX_DEPTH})", expression=text, position=node.pos
            )
        for child in ast.children(node):
            stack.append((child, depth + 1))


def parse(text: str) -> ast.Node:
    """Parse one expression (the text between `${{` and `}}`)."""
    return Parser(text).parse()
