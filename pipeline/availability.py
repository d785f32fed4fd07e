"""Which Freight a Stage may receive, and when: the one rule shared by manual promotion,
auto-promotion and the CLI.

For the requested origin that matches the Freight, in order (Kargo `IsFreightAvailable`):
1. approved for the Stage: available (approval bypasses verification and soak);
2. `sources.direct`: available;
3. `sources.stages`: verified in the upstream Stage(s) and soaked there; `OneOf`
   (default) needs one upstream Stage, `All` needs every one.

Soak follows the seed document, not Kargo's code: the clock starts when the Freight was
verified upstream and runs while it stays there. Verification of 15 min and a 2 h soak
make 2 h 15 min after the promotion. When the Freight has left the upstream Stage, the
soak it reached there (`longestSoak`) is what counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.durations import format_duration, parse_duration, parse_time
from pipeline.manifests import Stage


@dataclass
class Availability:
    available: bool
    reason: str = ""
    #: when not yet available only because of soak: the moment it will be
    soak_until: datetime | None = None

    def describe(self, now: datetime) -> str:
        if self.available:
            return "available"
        if self.soak_until:
            return f"soaking until {self.soak_until:%H:%M} UTC ({human(self.soak_until - now)} left)"
        return "not available"


def human(delta: timedelta) -> str:
    """1h12m, 4m30s, 12s."""
    seconds = max(int(delta.total_seconds() + 0.999), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def soak_end(freight: dict[str, Any], upstream: str, required: timedelta) -> datetime | None:
    """When the Freight will have soaked `required` in `upstream`; None if it is not
    verified there or left before soaking enough (it then never will)."""
    status = freight.get("status") or {}
    verified = (status.get("verifiedIn") or {}).get(upstream)
    if not verified:
        return None
    verified_at = parse_time(verified.get("verifiedAt"))
    if verified_at is None:
        return None
    longest = verified.get("longestSoak")
    if longest and parse_duration(str(longest)) >= required:
        return verified_at  # already soaked enough before it left
    if upstream not in (status.get("currentlyIn") or {}):
        return None
    return verified_at + required


def freight_availability(stage: Stage, freight: dict[str, Any], now: datetime) -> Availability:
    """Is `freight` available to `stage` at `now`? With the reason when it is not."""
    name = stage.metadata.name
    label = freight.get("alias") or str(freight.get("name", ""))[:7]
    origin = freight.get("origin") or {}
    request = next(
        (
            r
            for r in stage.spec.requested_freight
            if r.origin.kind == origin.get("kind", "Warehouse") and r.origin.name == origin.get("name")
        ),
        None,
    )
    if request is None:
        return Availability(False, f"stage {name} does not request freight from Warehouse {origin.get('name')!r}")
    status = freight.get("status") or {}
    if name in (status.get("approvedFor") or {}):
        return Availability(True, "approved")
    sources = request.sources
    if sources.direct:
        return Availability(True, "direct")
    if not sources.stages:
        return Availability(False, f"stage {name} requests no source for this freight")
    required = parse_duration(sources.required_soak_time) if sources.required_soak_time else timedelta(0)
    needs_all = sources.availability_strategy == "All"
    reasons: list[str] = []
    soak_times: list[datetime] = []
    ready = 0
    for upstream in sources.stages:
        if upstream not in (status.get("verifiedIn") or {}):
            reasons.append(f"not verified in {upstream}")
            continue
        end = soak_end(freight, upstream, required)
        if end is None:
            reasons.append(f"left {upstream} before soaking {format_duration(required)}")
        elif end <= now:
            ready += 1
        else:
            soak_times.append(end)
            reasons.append(f"soaking in {upstream} until {end:%H:%M} UTC ({human(end - now)} left)")
    if (needs_all and ready == len(sources.stages)) or (not needs_all and ready > 0):
        return Availability(True, "verified" + (" and soaked" if required else ""))
    soak_until: datetime | None = None
    if soak_times and len(soak_times) + ready >= (len(sources.stages) if needs_all else 1):
        soak_until = max(soak_times) if needs_all else min(soak_times)
    prefix = f"freight {label} is not available to stage {name}: "
    return Availability(False, prefix + "; ".join(reasons), soak_until)


def downstream_of(stages: dict[str, Stage], upstream: str, origin: str) -> list[str]:
    """The Stages directly downstream of `upstream` for Freight of Warehouse `origin` (those
    whose request for it lists `upstream` in `sources.stages`), by name: the targets of
    `promote --downstream-from`, as Kargo's `findDownstreamStages` finds them."""
    return sorted(
        name
        for name, stage in stages.items()
        if any(r.origin.name == origin and upstream in r.sources.stages for r in stage.spec.requested_freight)
    )


def downstream_refusal(
    stages: dict[str, Stage], upstream: str, freight: dict[str, Any], now: datetime, *, wait_for_soak: bool = False
) -> str:
    """Why `promote --downstream-from upstream` must not promote `freight` ("" when it may):
    Kargo promotes to every downstream Stage or to none. `wait_for_soak`: Freight still
    soaking is let through (its promotions wait)."""
    label = freight.get("alias") or str(freight.get("name", ""))[:7]
    origin = (freight.get("origin") or {}).get("name", "")
    targets = downstream_of(stages, upstream, origin)
    if not targets:
        return f"stage {upstream} has no downstream stages that take freight from Warehouse {origin!r}"
    verified = upstream in ((freight.get("status") or {}).get("verifiedIn") or {})
    for name in targets:
        found = freight_availability(stages[name], freight, now)
        if not found.available and not (wait_for_soak and found.soak_until):
            if not verified:
                return f"freight {label} is not verified in stage {upstream} (nor approved for stage {name})"
            return found.reason
    return ""
