"""expr-lang's time values: `now()`, `date()`, `duration()`, as Go's time.Time and
time.Duration behave in expressions (methods, comparisons, + and -).

The clock is never read here: `now()` returns the time the environment was built with
(a workflow passes workflow.now(), so a replay renders the same text). Only UTC and fixed
offsets exist: named time zones need the system's zone files, which pure code may not read.
Times keep microseconds (Python's precision), not Go's nanoseconds.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pipeline.durations import INT64, duration_nanos, nanos_string
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.values import Function, Record, is_number, type_name

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class GoTime(Record):
    """A time.Time: an aware datetime."""

    __slots__ = ("moment",)

    def __init__(self, moment: datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        super().__init__("time.Time", (), {}, methods=TIME_METHODS, json_value=_rfc3339(moment, nano=True),
                         text=_time_string(moment))
        self.moment = moment

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.moment == self.moment

    def __hash__(self) -> int:
        return hash(self.moment)


class GoDuration(Record):
    """A time.Duration: whole nanoseconds, in int64's range."""

    __slots__ = ("nanos",)

    def __init__(self, nanos: int):
        if not -INT64 <= nanos < INT64:
            raise ExpressionError("duration out of range")
        super().__init__("time.Duration", (), {}, methods=DURATION_METHODS, json_value=nanos,
                         text=nanos_string(nanos))
        self.nanos = nanos

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoDuration) and other.nanos == self.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)


def _delta(nanos: int) -> timedelta:
    return timedelta(microseconds=nanos // 1000)


def _nanos(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# -- durations ------------------------------------------------------------------------

def parse_duration(text: str) -> GoDuration:
    """time.ParseDuration: "1h30m", "-1.5s", "300ms", "0"."""
    try:
        return GoDuration(duration_nanos(text))
    except ValueError as err:
        raise ExpressionError(str(err)) from None


# -- Go layouts -----------------------------------------------------------------------

_STD = [
    "January", "Jan", "Monday", "Mon", "MST", "2006", "002", "__2", "_2", "01", "02", "03", "04", "05", "06",
    "15", "1", "2", "3", "4", "5", "PM", "pm",
    "Z07:00:00", "Z070000", "Z07:00", "Z0700", "Z07", "-07:00:00", "-070000", "-07:00", "-0700", "-07",
]
_FRACTION = re.compile(r"[.,](0+|9+)(?![0-9])")


def _chunks(layout: str) -> list[str]:
    """A layout as literal text and std elements (each element as written, e.g. "2006")."""
    out: list[str] = []
    literal = ""
    i = 0
    while i < len(layout):
        fraction = _FRACTION.match(layout, i)
        if fraction:
            out.extend([literal, "\x00" + fraction.group(0)])
            literal = ""
            i = fraction.end()
            continue
        for std in _STD:
            if layout.startswith(std, i):
                if std in ("Jan", "Mon", "MST") and layout[i + len(std):i + len(std) + 1].islower():
                    continue
                out.extend([literal, "\x00" + std])
                literal = ""
                i += len(std)
                break
        else:
            literal += layout[i]
            i += 1
    out.append(literal)
    return [chunk for chunk in out if chunk]


def _offset(moment: datetime, std: str) -> str:
    offset = moment.utcoffset() or timedelta(0)
    total = int(offset.total_seconds())
    if std.startswith("Z") and total == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    body = std.lstrip("Z-")
    parts = {"07": f"{hours:02d}", "0700": f"{hours:02d}{minutes:02d}", "07:00": f"{hours:02d}:{minutes:02d}",
             "070000": f"{hours:02d}{minutes:02d}{seconds:02d}", "07:00:00": f"{hours:02d}:{minutes:02d}:{seconds:02d}"}
    return sign + parts[body]


def _zone_name(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return "UTC"
    return _offset(moment, "-0700")[:3] if offset.total_seconds() % 3600 == 0 else _offset(moment, "-0700")


def format_time(moment: datetime, layout: str) -> str:
    """Time.Format(layout) with Go's reference time Mon Jan 2 15:04:05 MST 2006."""
    out: list[str] = []
    for chunk in _chunks(layout):
        if not chunk.startswith("\x00"):
            out.append(chunk)
            continue
        std = chunk[1:]
        hour12 = moment.hour % 12 or 12
        values: dict[str, Callable[[], str]] = {
            "January": lambda: _MONTHS[moment.month - 1], "Jan": lambda: _MONTHS[moment.month - 1][:3],
            "Monday": lambda: _DAYS[moment.weekday()], "Mon": lambda: _DAYS[moment.weekday()][:3],
            "MST": lambda: _zone_name(moment), "2006": lambda: f"{moment.year:04d}", "06": lambda: f"{moment.year % 100:02d}",
            "01": lambda: f"{moment.month:02d}", "1": lambda: str(moment.month), "02": lambda: f"{moment.day:02d}",
            "_2": lambda: f"{moment.day:2d}", "2": lambda: str(moment.day),
            "002": lambda: f"{moment.timetuple().tm_yday:03d}", "__2": lambda: f"{moment.timetuple().tm_yday:3d}",
            "15": lambda: f"{moment.hour:02d}", "03": lambda: f"{hour12:02d}", "3": lambda: str(hour12),
            "04": lambda: f"{moment.minute:02d}", "4": lambda: str(moment.minute),
            "05": lambda: f"{moment.second:02d}", "5": lambda: str(moment.second),
            "PM": lambda: "PM" if moment.hour >= 12 else "AM", "pm": lambda: "pm" if moment.hour >= 12 else "am",
        }
        if std in values:
            out.append(values[std]())
        elif std[0] in ".,":
            digits = f"{moment.microsecond * 1000:09d}"[: len(std) - 1]
            if std[1] == "9":
                digits = digits.rstrip("0")
                out.append(std[0] + digits if digits else "")
            else:
                out.append(std[0] + digits)
        else:
            out.append(_offset(moment, std))
    return "".join(out)


_PATTERNS = {
    "January": "(?P<month_name>" + "|".join(_MONTHS) + ")", "Jan": "(?P<month_abbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "Monday": "(?:" + "|".join(_DAYS) + ")", "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "MST": "(?P<zone>[A-Z]{3,4}|[+-][0-9]+)", "2006": r"(?P<year>[0-9]{4})", "06": r"(?P<year2>[0-9]{2})",
    "01": r"(?P<month>[0-9]{2})", "1": r"(?P<month>[0-9]{1,2})", "02": r"(?P<day>[0-9]{2})",
    "_2": r" ?(?P<day>[0-9]{1,2})", "2": r"(?P<day>[0-9]{1,2})", "002": r"(?P<yday>[0-9]{3})",
    "__2": r" {0,2}(?P<yday>[0-9]{1,3})", "15": r"(?P<hour>[0-9]{1,2})", "03": r"(?P<hour12>[0-9]{2})",
    "3": r"(?P<hour12>[0-9]{1,2})", "04": r"(?P<minute>[0-9]{2})", "4": r"(?P<minute>[0-9]{1,2})",
    "05": r"(?P<second>[0-9]{2})", "5": r"(?P<second>[0-9]{1,2})", "PM": "(?P<ampm>AM|PM)", "pm": "(?P<ampm>am|pm)",
}


def parse_time(layout: str, text: str) -> GoTime:
    """time.Parse(layout, text); a time without a zone is UTC."""
    pattern: list[str] = []
    for chunk in _chunks(layout):
        if not chunk.startswith("\x00"):
            pattern.append(re.escape(chunk))
            continue
        std = chunk[1:]
        if std in _PATTERNS:
            pattern.append(_PATTERNS[std])
        elif std[0] in ".,":
            pattern.append(r"(?:[.,](?P<fraction>[0-9]+))?" if std[1] == "9" else r"[.,](?P<fraction>[0-9]+)")
        else:
            z = "Z|" if std.startswith("Z") else ""
            pattern.append(rf"(?P<offset>{z}[+-][0-9]{{2}}(?::?[0-9]{{2}}){{0,2}})")
        if std in ("05", "5") and not any(c.startswith("\x00.") or c.startswith("\x00,") for c in _chunks(layout)):
            pattern.append(r"(?:[.,](?P<fraction>[0-9]+))?")  # Go accepts a fraction after seconds
    try:
        match = re.fullmatch("".join(pattern), text)
    except re.error:  # a layout naming one element twice
        match = None
    if match is None:
        raise ExpressionError(f'parsing time "{text}" as "{layout}": cannot parse')
    found = {k: v for k, v in match.groupdict().items() if v is not None}
    try:
        year = int(found["year"]) if "year" in found else (
            (1900 if int(found["year2"]) >= 69 else 2000) + int(found["year2"]) if "year2" in found else 0)
        if "month_name" in found:
            month = _MONTHS.index(found["month_name"]) + 1
        elif "month_abbr" in found:
            month = [m[:3] for m in _MONTHS].index(found["month_abbr"]) + 1
        else:
            month = int(found.get("month", 1))
        hour = int(found.get("hour", 0))
        if "hour12" in found:
            hour = int(found["hour12"]) % 12 + (12 if found.get("ampm", "").lower() == "pm" else 0)
        zone = timezone.utc
        if "offset" in found and found["offset"] != "Z":
            digits = found["offset"][1:].replace(":", "")
            seconds = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
            zone = timezone(timedelta(seconds=-seconds if found["offset"][0] == "-" else seconds))
        micro = int((found.get("fraction", "") + "000000")[:6])
        moment = datetime(max(year, 1), month, int(found.get("day", 1)), hour, int(found.get("minute", 0)),
                          int(found.get("second", 0)), micro, tzinfo=zone)
        if "yday" in found:
            moment = moment.replace(month=1, day=1) + timedelta(days=int(found["yday"]) - 1)
    except (ValueError, OverflowError) as exc:
        raise ExpressionError(f'parsing time "{text}": {exc}') from None
    return GoTime(moment)


def _rfc3339(moment: datetime, nano: bool = False) -> str:
    return format_time(moment, "2006-01-02T15:04:05.999999999Z07:00" if nano else "2006-01-02T15:04:05Z07:00")


def _time_string(moment: datetime) -> str:
    return format_time(moment, "2006-01-02 15:04:05.999999999 -0700 MST")


# -- builtins -------------------------------------------------------------------------

#: layouts date() tries when given none (expr-lang's list)
DATE_LAYOUTS = ("2006-01-02", "15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z07:00",
                "02 Jan 06 15:04 MST", "Monday, 02-Jan-06 15:04:05 MST", "Mon, 02 Jan 2006 15:04:05 MST")


def _str(fn: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"invalid argument for {fn} (expected string, got {type_name(value)})")
    return value


def date(*args: Any) -> GoTime:
    """date(text), date(text, layout), date(text, layout, "UTC")."""
    if not 1 <= len(args) <= 3:
        raise ExpressionError(f"invalid number of arguments for date (expected 1 to 3, got {len(args)})")
    text = _str("date", args[0])
    if len(args) == 3 and _str("date", args[2]) not in ("UTC", "Etc/UTC"):
        raise ExpressionError(f"date: time zone {args[2]!r} is not supported (only UTC, or an offset in the text)")
    if len(args) >= 2:
        return parse_time(_str("date", args[1]), text)
    for layout in DATE_LAYOUTS:
        try:
            return parse_time(layout, text)
        except ExpressionError:
            continue
    raise ExpressionError(f"invalid date {text}")


def duration(*args: Any) -> GoDuration:
    if len(args) != 1:
        raise ExpressionError(f"invalid number of arguments for duration (expected 1, got {len(args)})")
    return parse_duration(_str("duration", args[0]))


def time_functions(now: datetime | None) -> dict[str, Function]:
    """now(), date(), duration(); without a time, now() is an error rather than a clock read."""

    def now_fn(*args: Any) -> GoTime:
        if args:
            raise ExpressionError(f"invalid number of arguments for now (expected 0, got {len(args)})")
        if now is None:
            raise ExpressionError("now() is not available here")
        return GoTime(now)

    return {"now": Function(now_fn, "now"), "date": Function(date, "date"), "duration": Function(duration, "duration")}


# -- methods --------------------------------------------------------------------------

def _want(fn: str, args: tuple[Any, ...], count: int) -> None:
    if len(args) != count:
        raise ExpressionError(f"{fn}: expected {count} argument{'s' if count != 1 else ''}, got {len(args)}")


def _time_arg(fn: str, value: Any) -> GoTime:
    if not isinstance(value, GoTime):
        raise ExpressionError(f"{fn}: argument must be time.Time, got {type_name(value)}")
    return value


def _duration_arg(fn: str, value: Any) -> GoDuration:
    if isinstance(value, GoDuration):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return GoDuration(value)
    raise ExpressionError(f"{fn}: argument must be time.Duration, got {type_name(value)}")


def _time_method(fn: Callable[..., Any], count: int = 0) -> Callable[[str], Function]:
    def make(name: str) -> Function:
        def call(record: GoTime, *args: Any) -> Any:
            _want(name, args, count)
            return fn(record.moment, *args)

        return Function(call, name)

    return make


def _round_time(moment: datetime, step: Any, up: bool) -> GoTime:
    nanos = _duration_arg("Round" if up else "Truncate", step).nanos
    if nanos <= 0:
        return GoTime(moment)
    since = _nanos(moment - datetime(1, 1, 1, tzinfo=moment.tzinfo))
    rest = since % nanos
    if up and rest * 2 >= nanos:
        rest -= nanos
    return GoTime(moment - _delta(rest))


def _add_date(moment: datetime, years: Any, months: Any, days: Any) -> GoTime:
    total = moment.month - 1 + int(months) + 12 * int(years)
    year, month = moment.year + total // 12, total % 12 + 1
    base = datetime(year, month, 1, moment.hour, moment.minute, moment.second, moment.microsecond, moment.tzinfo)
    return GoTime(base + timedelta(days=moment.day - 1 + int(days)))


_TIME_METHODS: dict[str, tuple[Callable[..., Any], int]] = {
    "Year": (lambda m: m.year, 0), "Month": (lambda m: m.month, 0), "Day": (lambda m: m.day, 0),
    "Hour": (lambda m: m.hour, 0), "Minute": (lambda m: m.minute, 0), "Second": (lambda m: m.second, 0),
    "Nanosecond": (lambda m: m.microsecond * 1000, 0), "YearDay": (lambda m: m.timetuple().tm_yday, 0),
    "Weekday": (lambda m: (m.weekday() + 1) % 7, 0),
    "Unix": (lambda m: _nanos(m - _EPOCH) // 1_000_000_000, 0),
    "UnixMilli": (lambda m: _nanos(m - _EPOCH) // 1_000_000, 0),
    "UnixMicro": (lambda m: _nanos(m - _EPOCH) // 1_000, 0),
    "UnixNano": (lambda m: _nanos(m - _EPOCH), 0),
    "Format": (lambda m, layout: format_time(m, _str("Format", layout)), 1),
    "String": (_time_string, 0),
    "IsZero": (lambda m: m == datetime(1, 1, 1, tzinfo=timezone.utc), 0),
    "UTC": (lambda m: GoTime(m.astimezone(timezone.utc)), 0),
    "Local": (lambda m: GoTime(m.astimezone(timezone.utc)), 0),
    "Add": (lambda m, d: GoTime(m + _delta(_duration_arg("Add", d).nanos)), 1),
    "AddDate": (_add_date, 3),
    "Sub": (lambda m, t: GoDuration(_nanos(m - _time_arg("Sub", t).moment)), 1),
    "Before": (lambda m, t: m < _time_arg("Before", t).moment, 1),
    "After": (lambda m, t: m > _time_arg("After", t).moment, 1),
    "Equal": (lambda m, t: m == _time_arg("Equal", t).moment, 1),
    "Compare": (lambda m, t: (m > _time_arg("Compare", t).moment) - (m < t.moment), 1),
    "Truncate": (lambda m, d: _round_time(m, d, False), 1),
    "Round": (lambda m, d: _round_time(m, d, True), 1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TIME_METHODS: dict[str, Function] = {name: _time_method(fn, count)(name) for name, (fn, count) in _TIME_METHODS.items()}


def _duration_method(fn: Callable[..., Any], count: int = 0) -> Callable[[str], Function]:
    def make(name: str) -> Function:
        def call(record: GoDuration, *args: Any) -> Any:
            _want(name, args, count)
            return fn(record.nanos, *args)

        return Function(call, name)

    return make


def _round_duration(nanos: int, step: Any, up: bool) -> GoDuration:
    m = _duration_arg("Round" if up else "Truncate", step).nanos
    if m <= 0:
        return GoDuration(nanos)
    rest = abs(nanos) % m
    magnitude = abs(nanos) - rest
    if up and rest * 2 >= m:
        magnitude += m
    return GoDuration(-magnitude if nanos < 0 else magnitude)


_DURATION_METHODS: dict[str, tuple[Callable[..., Any], int]] = {
    "Hours": (lambda n: n / 3_600_000_000_000, 0), "Minutes": (lambda n: n / 60_000_000_000, 0),
    "Seconds": (lambda n: n / 1_000_000_000, 0), "Milliseconds": (lambda n: int(n / 1_000_000), 0),
    "Microseconds": (lambda n: int(n / 1_000), 0), "Nanoseconds": (lambda n: n, 0),
    "String": (nanos_string, 0), "Abs": (lambda n: GoDuration(abs(n)), 0),
    "Truncate": (lambda n, d: _round_duration(n, d, False), 1), "Round": (lambda n, d: _round_duration(n, d, True), 1),
}
DURATION_METHODS: dict[str, Function] = {
    name: _duration_method(fn, count)(name) for name, (fn, count) in _DURATION_METHODS.items()
}


# -- operators (vm/runtime helpers: time cases) ---------------------------------------

def is_time_value(value: Any) -> bool:
    return isinstance(value, (GoTime, GoDuration))


def time_compare(op: str, a: Any, b: Any) -> bool | None:
    """<, >, <=, >= of two times or two durations; None when neither is one."""
    if isinstance(a, GoTime) and isinstance(b, GoTime):
        x, y = a.moment, b.moment
    elif isinstance(a, GoDuration) and isinstance(b, GoDuration):
        x, y = a.nanos, b.nanos
    else:
        return None
    return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]


def time_add(a: Any, b: Any) -> Any:
    if isinstance(a, GoTime) and isinstance(b, GoDuration):
        return GoTime(a.moment + _delta(b.nanos))
    if isinstance(a, GoDuration) and isinstance(b, GoTime):
        return GoTime(b.moment + _delta(a.nanos))
    if isinstance(a, GoDuration) and isinstance(b, GoDuration):
        return GoDuration(a.nanos + b.nanos)
    raise ExpressionError(f"invalid operation: {type_name(a)} + {type_name(b)}")


def time_subtract(a: Any, b: Any) -> Any:
    if isinstance(a, GoTime) and isinstance(b, GoTime):
        return GoDuration(_nanos(a.moment - b.moment))
    if isinstance(a, GoTime) and isinstance(b, GoDuration):
        return GoTime(a.moment - _delta(b.nanos))
    if isinstance(a, GoDuration) and isinstance(b, GoDuration):
        return GoDuration(a.nanos - b.nanos)
    raise ExpressionError(f"invalid operation: {type_name(a)} - {type_name(b)}")


def time_multiply(a: Any, b: Any) -> Any:
    """A duration times an int or a duration is a duration; times a float, a float."""
    x = a.nanos if isinstance(a, GoDuration) else a
    y = b.nanos if isinstance(b, GoDuration) else b
    if not (is_number(x) and is_number(y)):
        raise ExpressionError(f"invalid operation: {type_name(a)} * {type_name(b)}")
    if isinstance(x, float) or isinstance(y, float):
        return float(x) * float(y)
    return GoDuration(x * y)
