"""Go duration syntax (``180s``, ``1h30m``, ``5m0s``), as Kargo and Argo Rollouts write it.

Manifests keep durations as the text the user wrote (so they round-trip unchanged); code that
needs a length of time calls :func:`parse_duration`. Pure code: safe in the workflow sandbox.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

__all__ = ["parse_duration", "format_duration", "parse_time", "DURATION_HINT"]

#: Nanoseconds per unit, as Go's time.ParseDuration accepts them.
_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")

DURATION_HINT = "use a Go duration such as 30s, 5m, 48h or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string; raise ValueError with a plain message if it is not one.

    Like Go, a sign is allowed, ``0`` needs no unit, and parts may repeat (``1h30m``).
    Sub-microsecond precision is truncated (timedelta cannot hold it).
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {DURATION_HINT}")
    s = text.strip()
    original = s
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError(f"invalid duration {original!r}: {DURATION_HINT}")
    pos = 0
    total_ns = Decimal(0)
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {original!r}: {DURATION_HINT}")
        try:
            total_ns += Decimal(m.group(1)) * _UNITS[m.group(2)]
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise ValueError(f"invalid duration {original!r}: {DURATION_HINT}") from exc
        pos = m.end()
    micros = int(total_ns / 1000)
    return timedelta(microseconds=sign * micros)


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way Go prints durations (``1h30m0s``, ``5m0s``, ``0s``)."""
    total_us = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    if total_us == 0:
        return "0s"
    if total_us < 1_000_000:
        ms = Decimal(total_us) / Decimal(1000)
        return f"{sign}{format(ms.normalize(), 'f')}ms"
    hours, rem = divmod(total_us, 3600 * 1_000_000)
    minutes, rem = divmod(rem, 60 * 1_000_000)
    seconds = Decimal(rem) / Decimal(1_000_000)
    sec_text = format(seconds.normalize(), "f") if seconds else "0"
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{sign}{minutes}m{sec_text}s"
    return f"{sign}{sec_text}s"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time as Kargo writes it (`...Z` or an offset), a datetime as is, else None."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None
