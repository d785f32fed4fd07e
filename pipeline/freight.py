"""Freight identity and the project's Freight catalog (pure: it lives in workflow state).

A Freight's name is the SHA-1 of its origin and artifacts, as in Kargo, so the same
combination of artifacts is never created twice, however many times it is discovered.
Aliases are friendly names derived from the name, unique within a project.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from pipeline.durations import format_duration, parse_duration

_ADJECTIVES = (
    "amber azure bold brave brisk calm clever cosmic crisp dapper eager early fancy fast fierce "
    "gentle giddy golden grand happy hasty honest jolly keen kind lively lucky merry mighty misty "
    "modest nimble noble plucky polite proud quick quiet rapid royal rustic shiny silent sleek "
    "smart snappy solid spry steady sturdy sunny swift tidy upbeat vivid witty zesty"
).split()
_NOUNS = (
    "badger beacon bison cedar comet condor coral cougar crane delta dingo eagle ember falcon "
    "ferret fjord galaxy gecko glacier harbor hawk heron ibis jaguar kestrel koala lagoon lemur "
    "lynx magpie maple marmot meadow meteor mole nebula newt ocelot orca otter panda pelican "
    "pike quail raven river robin salmon sparrow summit tiger tundra walrus willow wombat yak"
).split()


def _normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def freight_name(origin: dict[str, Any], images: list[dict], commits: list[dict], charts: list[dict]) -> str:
    """SHA-1 over the origin and the sorted artifact keys (image by digest, else tag)."""
    keys = [f"{_normalize_url(c.get('repoURL', ''))}:{c.get('id') or c.get('tag') or ''}" for c in commits]
    keys += [f"{i.get('repoURL', '')}:{i.get('digest') or i.get('tag') or ''}" for i in images]
    keys += [f"{c.get('repoURL', '').rstrip('/')}/{c.get('name') or ''}:{c.get('version') or ''}" for c in charts]
    text = f"{origin.get('kind', 'Warehouse')}/{origin.get('name', '')}:" + "|".join(sorted(keys))
    return hashlib.sha1(text.encode()).hexdigest()


def alias_for(name: str, taken: set[str]) -> str:
    """A friendly alias from the name's hash; a counter suffix settles the rare clash."""
    number = int(name[:12], 16) if name[:12].strip("0123456789abcdef") == "" and name else 0
    base = f"{_ADJECTIVES[number % len(_ADJECTIVES)]}-{_NOUNS[(number // len(_ADJECTIVES)) % len(_NOUNS)]}"
    alias, n = base, 1
    while alias in taken:
        n += 1
        alias = f"{base}-{n}"
    return alias


class StageCurrent(BaseModel):
    """Which Freight a Stage has now, since when, and which promotion put it there."""

    freight: str
    since: datetime
    promotion: str
    alias: str = ""


class StageVisit(BaseModel):
    """One line of a Stage's Freight history."""

    freight: str
    since: datetime
    until: datetime | None = None
    promotion: str = ""


HISTORY_LIMIT = 50


#: Kargo keeps the alias in a label, so it follows the label value rules
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
#: a Freight name, or a prefix of one long enough to look up (7 hex digits, as git shortens)
NAME_PREFIX = re.compile(r"[0-9a-f]{7,40}")


def check_alias(alias: str) -> None:
    """Raise ValueError unless `alias` is a valid alias (Kargo's label value rules)."""
    if not alias:
        raise ValueError("alias must not be empty")
    if not ALIAS_PATTERN.fullmatch(alias):
        raise ValueError(
            f"alias {alias!r} is not valid: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )


def check_artifacts(freight: dict[str, Any]) -> None:
    if not (freight.get("images") or freight.get("commits") or freight.get("charts")):
        raise ValueError("freight needs at least one image, commit or chart")


def new_record(freight: dict[str, Any], name: str, alias: str, now: datetime) -> dict[str, Any]:
    """The flattened Freight as it is kept: named, aliased, discovered now unless it says when."""
    record = dict(freight)
    record.update(name=name, alias=alias)
    record.setdefault("discoveredAt", now.isoformat())
    record.setdefault("status", {})
    return record


def name_of(freight: dict[str, Any]) -> str:
    """The Freight's given name, else the SHA-1 of its origin and artifacts."""
    return freight.get("name") or freight_name(
        freight.get("origin") or {},
        freight.get("images") or [],
        freight.get("commits") or [],
        freight.get("charts") or [],
    )


def enter_stage(record: dict[str, Any], stage: str, at: datetime) -> None:
    """The Freight is now current in the Stage (`status.currentlyIn`)."""
    record.setdefault("status", {}).setdefault("currentlyIn", {})[stage] = {"since": at.isoformat()}


def leave_stage(record: dict[str, Any], stage: str, at: datetime) -> None:
    """The Freight left the Stage: how long it soaked there after verification is kept."""
    status = record.setdefault("status", {})
    status.setdefault("currentlyIn", {}).pop(stage, None)
    verified = (status.get("verifiedIn") or {}).get(stage)
    if verified and verified.get("verifiedAt"):
        soaked = at - datetime.fromisoformat(verified["verifiedAt"])
        old = parse_duration(verified["longestSoak"]) if verified.get("longestSoak") else None
        if old is None or soaked > old:
            verified["longestSoak"] = format_duration(soaked)


def mark_verified(record: dict[str, Any], stage: str, at: datetime) -> bool:
    """Verified in a Stage (the first time counts; a re-verification keeps it)."""
    verified = record.setdefault("status", {}).setdefault("verifiedIn", {})
    if stage in verified:
        return False
    verified[stage] = {"verifiedAt": at.isoformat()}
    return True


def approve_for(record: dict[str, Any], stage: str, actor: str, at: datetime) -> None:
    """Approved for a Stage: bypasses verification and soak there."""
    record.setdefault("status", {}).setdefault("approvedFor", {})[stage] = {"approvedAt": at.isoformat(), "by": actor}


def forget_stage(record: dict[str, Any], stage: str) -> bool:
    """The Stage was deleted: as Kargo's Stage finalizer does, the Freight is no longer verified
    in or approved for it (nor current in it); False when it named the Stage nowhere."""
    status = record.get("status") or {}
    found = False
    for field in ("currentlyIn", "verifiedIn", "approvedFor"):
        found = (status.get(field) or {}).pop(stage, None) is not None or found
    return found


def names_stage(record: dict[str, Any], stage: str) -> bool:
    status = record.get("status") or {}
    return any(stage in (status.get(field) or {}) for field in ("currentlyIn", "verifiedIn", "approvedFor"))


def merge_metadata(record: dict[str, Any], values: dict[str, Any]) -> None:
    record.setdefault("status", {}).setdefault("metadata", {}).update(values)


def record_visit(visits: list[StageVisit], freight: str, promotion: str, at: datetime) -> None:
    """A Stage's history (newest first) after a successful promotion: a new Freight opens a
    visit and closes the one before; the same Freight again (a re-verification) changes
    nothing. At most HISTORY_LIMIT visits are kept."""
    if visits and visits[0].freight == freight and visits[0].until is None:
        return
    for visit in visits:
        if visit.until is None:
            visit.until = at
    visits.insert(0, StageVisit(freight=freight, since=at, promotion=promotion))
    del visits[HISTORY_LIMIT:]


def merge_visits(newer: list[StageVisit], older: list[StageVisit]) -> list[StageVisit]:
    """A Stage's own history followed by what a project kept of it before, newest first."""
    seen = {(v.freight, v.since) for v in newer}
    merged = newer + [v for v in older if (v.freight, v.since) not in seen]
    merged.sort(key=lambda v: v.since, reverse=True)
    for newer_visit, visit in zip(merged, merged[1:]):  # only the newest can still be open
        if visit.until is None:
            visit.until = newer_visit.since
    return merged[:HISTORY_LIMIT]


class FreightChange(BaseModel):
    """One change to a Freight: where it is, where it was verified or approved, its alias
    or metadata (the FreightWorkflow's `change` update takes one)."""

    kind: Literal["entered", "left", "verified", "approved", "alias", "metadata", "stage_deleted"]
    stage: str = ""
    at: datetime | None = None
    actor: str = ""
    alias: str = ""
    values: dict[str, Any] = Field(default_factory=dict)


def approval(stage: str, actor: str | None, at: datetime) -> FreightChange:
    """The change an approval makes (Kargo's `approvedFor`): bypasses verification and soak."""
    return FreightChange(kind="approved", stage=stage, actor=actor or "unknown", at=at)


#: the changes a promotion makes, which the FreightWorkflow takes by signal (`record`)
STAGE_CHANGES = ("entered", "left", "verified")
#: changes that set fields of their own, so that several apply in any order (a promotion's
#: entered + verified): they may be sent at once
INDEPENDENT_CHANGES = ("entered", "verified")


def independent(changes: list[FreightChange]) -> bool:
    """Several changes that may be applied at once, in any order."""
    keys = {(c.kind, c.stage) for c in changes}
    return len(changes) > 1 and len(keys) == len(changes) and all(c.kind in INDEPENDENT_CHANGES and c.stage for c in changes)


def change_shows(record: dict[str, Any], change: FreightChange) -> bool:
    """Whether `record` shows a Stage change (STAGE_CHANGES) was applied: the test a writer
    that sent the change by signal polls the Freight's memo with."""
    status = record.get("status") or {}
    if change.kind == "verified":
        return change.stage in (status.get("verifiedIn") or {})
    current = (status.get("currentlyIn") or {}).get(change.stage)
    if change.kind == "left":
        return current is None or (change.at is not None and datetime.fromisoformat(current["since"]) > change.at)
    if change.kind == "entered":
        return current is not None and (change.at is None or datetime.fromisoformat(current["since"]) >= change.at)
    raise ValueError(f"a {change.kind!r} change is not sent by signal")


def apply_change(record: dict[str, Any], change: FreightChange, now: datetime) -> None:
    at = change.at or now
    if change.kind == "entered":
        enter_stage(record, change.stage, at)
    elif change.kind == "left":
        leave_stage(record, change.stage, at)
    elif change.kind == "verified":
        mark_verified(record, change.stage, at)
    elif change.kind == "approved":
        approve_for(record, change.stage, change.actor or "unknown", at)
    elif change.kind == "alias":
        record["alias"] = change.alias
    elif change.kind == "stage_deleted":
        forget_stage(record, change.stage)
    else:
        merge_metadata(record, change.values)


class FreightCatalog(BaseModel):
    """All Freight of a project, as projects kept it before Freight became workflows of
    their own (`workflows/freight.py`): still read when replaying those projects' histories,
    and emptied into Freight workflows by the project's first run under the new code."""

    freight: dict[str, dict[str, Any]] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    stages: dict[str, StageCurrent] = Field(default_factory=dict)
    history: dict[str, list[StageVisit]] = Field(default_factory=dict, description="per Stage, newest first")

    def find(self, name_or_alias: str) -> dict[str, Any] | None:
        name = self.aliases.get(name_or_alias, name_or_alias)
        found = self.freight.get(name)
        if found is None and len(name_or_alias) >= 7:
            matches = [n for n in self.freight if n.startswith(name_or_alias)]
            if len(matches) == 1:
                found = self.freight[matches[0]]
        return found

    def add(self, freight: dict[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
        """Add Freight (named and aliased here when it comes without); False if it existed."""
        name = name_of(freight)
        if name in self.freight:
            return self.freight[name], False
        alias = freight.get("alias") or alias_for(name, set(self.aliases))
        if alias in self.aliases:
            raise ValueError(f"alias {alias!r} is already used by freight {self.aliases[alias]}")
        record = new_record(freight, name, alias, now)
        self.freight[name] = record
        self.aliases[alias] = name
        return record, True

    def record_promotion(
        self, stage: str, freight: str, promotion: str, at: datetime, *, keep_history: bool = True
    ) -> str | None:
        """A successful promotion: the Freight is now current in the Stage; the previous one
        left (its name is returned when it did). `keep_history` False: the Stage's own
        workflow keeps its history."""
        previous = self.stages.get(stage)
        left = previous.freight if previous and previous.freight != freight else None
        if keep_history:
            record_visit(self.history.setdefault(stage, []), freight, promotion, at)
        if left is not None and left in self.freight:
            leave_stage(self.freight[left], stage, at)
        self.stages[stage] = StageCurrent(freight=freight, since=at, promotion=promotion)
        if freight in self.freight:
            enter_stage(self.freight[freight], stage, at)
        return left

    def mark_verified(self, stage: str, freight: str, at: datetime) -> bool:
        record = self.freight.get(freight)
        return False if record is None else mark_verified(record, stage, at)

    def approve(self, stage: str, freight: str, actor: str, at: datetime) -> dict[str, Any]:
        record = self.find(freight)
        if record is None:
            raise ValueError(f"freight {freight!r} does not exist")
        approve_for(record, stage, actor, at)
        return record


def parse_image_ref(text: str) -> dict[str, str]:
    """`repo:tag`, `repo@sha256:...` or `repo:tag@sha256:...` (a registry port is not a tag)."""
    ref = text.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    repo, tag = ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        repo, tag = ref[:colon], ref[colon + 1 :]
    if not repo or not (tag or digest):
        raise ValueError(f"image {text!r}: write REPO:TAG or REPO@DIGEST")
    image = {"repoURL": repo}
    if tag:
        image["tag"] = tag
    if digest:
        image["digest"] = digest
    return image


def parse_commit_ref(text: str) -> dict[str, str]:
    """`URL@SHA`: the last `@` separates the id (URLs may contain `user@host`)."""
    url, sep, sha = text.rpartition("@")
    if not sep or not url or not sha or "/" in sha:
        raise ValueError(f"commit {text!r}: write REPO_URL@COMMIT_SHA")
    return {"repoURL": url, "id": sha}


def parse_chart_ref(text: str) -> dict[str, str]:
    """`REPO_URL/NAME:VERSION` (for OCI: `oci://host/path/name:version`)."""
    ref, sep, version = text.rpartition(":")
    if not sep or "/" not in ref or not version or "/" in version:
        raise ValueError(f"chart {text!r}: write REPO_URL/NAME:VERSION")
    repo, _, name = ref.rpartition("/")
    if ref.startswith("oci://"):
        return {"repoURL": ref, "version": version}
    return {"repoURL": repo, "name": name, "version": version}


def artifact_summary(freight: dict[str, Any]) -> str:
    """`repo:tag, repo@abc1234` for tables."""
    parts = [f"{i.get('repoURL')}:{i.get('tag') or (i.get('digest') or '')[:19]}" for i in freight.get("images") or []]
    parts += [f"{c.get('repoURL')}@{(c.get('id') or c.get('tag') or '')[:7]}" for c in freight.get("commits") or []]
    parts += [f"{c.get('name') or c.get('repoURL')}:{c.get('version')}" for c in freight.get("charts") or []]
    return ", ".join(parts)


def freight_document(freight: dict[str, Any], project: str) -> dict[str, Any]:
    """The flattened record as the Kargo Freight document users know: `alias`, `origin` and
    the artifacts at the top, when it was discovered in `metadata.creationTimestamp`, and a
    camelCase `status` (`currentlyIn`, `verifiedIn`, `approvedFor`, `metadata`)."""
    body = {k: v for k, v in freight.items() if k not in ("name", "status", "discoveredAt")}
    metadata: dict[str, Any] = {"name": freight.get("name"), "namespace": project}
    if freight.get("discoveredAt"):
        metadata["creationTimestamp"] = freight["discoveredAt"]
    status = dict(freight.get("status") or {})
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Freight",
        "metadata": metadata,
        **body,
        "status": status,
    }


def set_alias(catalog: FreightCatalog, name_or_alias: str, alias: str) -> dict[str, Any]:
    """Give Freight a new alias (Kargo's aliases are mutable and unique in a project)."""
    freight = catalog.find(name_or_alias)
    if freight is None:
        raise ValueError(f"freight {name_or_alias!r} does not exist")
    owner = catalog.aliases.get(alias)
    if owner is not None and owner != freight["name"]:
        raise ValueError(f"alias {alias!r} is already used by freight {owner}")
    old = freight.get("alias")
    if old and catalog.aliases.get(old) == freight["name"]:
        del catalog.aliases[old]
    freight["alias"] = alias
    catalog.aliases[alias] = freight["name"]
    return freight
