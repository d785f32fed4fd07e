"""Go duration syntax (``180s``, ``1h30m``, ``5m0s``), as Kargo and Argo Rollouts write it.

Manifests keep durations as the text the user wrote (so they round-trip unchanged); code that
needs a length of time calls :func:`parse_duration`. Pure code: safe in the workflow sandbox.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

__all__ = ["parse_duration", "format_duration", "parse_time", "duration_nanos", "nanos_string", "DURATION_HINT"]

#: Nanoseconds per unit, as Go's time.ParseDuration accepts them.
UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
#: time.Duration is an int64 of nanoseconds
INT64 = 1 << 63

DURATION_HINT = "use a Go duration such as 30s, 5m, 48h or 1h30m"


def duration_nanos(text: str) -> int:
    """Go's time.ParseDuration, exactly: whole nanoseconds ("1h30m", "-1.5s", "300ms", "0");
    ValueError with Go's own message (`time: invalid duration "x"`) otherwise."""
    original, sign = text, 1
    if text and text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    total = 0
    position = 0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f'time: invalid duration "{original}"')
        whole, _, fraction = match.group(1).partition(".")
        scale = UNITS[match.group(2)]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        position = match.end()
    total *= sign
    if not -INT64 <= total < INT64:
        raise ValueError(f'time: invalid duration "{original}"')
    return total


def _fraction(value: int, digits: int) -> str:
    text = str(value).rjust(digits, "0").rstrip("0")
    return "." + text if text else ""


def nanos_string(nanos: int) -> str:
    """Go's Duration.String(): "1h0m0s", "1.5s", "300ms", "500µs", "0s"."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    value = abs(nanos)
    if value < 1_000_000_000:
        for unit, scale, digits in (("ms", 1_000_000, 6), ("µs", 1_000, 3), ("ns", 1, 0)):
            if value >= scale:
                return sign + str(value // scale) + (_fraction(value % scale, digits) if digits else "") + unit
    seconds, rest = divmod(value, 1_000_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{seconds}{_fraction(rest, 9)}s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def parse_duration(text: str) -> timedelta:
    """A Go duration as a timedelta; ValueError with a plain message if it is not one.
    Sub-microsecond precision is truncated (timedelta cannot hold it)."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {DURATION_HINT}")
    try:
        nanos = duration_nanos(text.strip())
    except ValueError:
        raise ValueError(f"invalid duration {text.strip()!r}: {DURATION_HINT}") from None
    return timedelta(microseconds=int(nanos / 1000))


def format_duration(value: timedelta) -> str:
    """A timedelta the way Go prints durations (``1h30m0s``, ``5m0s``, ``0s``)."""
    return nanos_string(((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds) * 1000)


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
