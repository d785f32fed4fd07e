"""The one error type of the expression language.

Tokenizer, parser and evaluator all raise `ExpressionError`, so callers (step
rendering, verification, the CLI) need a single `except` and can show the user
where the problem is: the manifest field it came from, the expression, the column.
"""

from __future__ import annotations


class ExpressionError(Exception):
    """A tokenize, parse or evaluation error in one expression.

    `position` is a 0-based offset into `expression`; `str()` shows it as a
    1-based column because that is what editors show.
    """

    def __init__(
        self,
        message: str,
        *,
        expression: str = "",
        position: int | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.position = position
        self.source = source

    def with_context(
        self, *, expression: str | None = None, source: str | None = None, position: int | None = None
    ) -> "ExpressionError":
        """Fill in what the raiser did not know (it keeps what it already had)."""
        if expression is not None and not self.expression:
            self.expression = expression
        if position is not None and self.position is None:
            self.position = position
        if source is not None and not self.source:
            self.source = source
        return self

    def __str__(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}: ")
        if self.expression:
            shown = self.expression.strip()
            if len(shown) > 200:
                shown = shown[:197] + "..."
            parts.append(f"expression `{shown}`")
            if self.position is not None:
                # Columns count from the start of the stripped expression.
                lead = len(self.expression) - len(self.expression.lstrip())
                parts.append(f" at column {max(self.position - lead, 0) + 1}")
            parts.append(": ")
        elif self.position is not None:
            parts.append(f"at column {self.position + 1}: ")
        parts.append(self.message)
        return "".join(parts)

    def __reduce__(self):  # keeps the fields when pickled (Temporal failure conversion, multiprocessing)
        return (
            _rebuild,
            (self.message, self.expression, self.position, self.source),
        )


def _rebuild(message, expression, position, source):
    return ExpressionError(message, expression=expression, position=position, source=source)
