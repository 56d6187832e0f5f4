"""Incident grouping: error lines that burst together in time, across services, form one incident.

How a batch of error events becomes incidents:
1. Events are keyed by (service, signature): the kind of line (`rca.signatures.signature`).
2. Each key's events are chained into clusters (a gap of at most `GAP_S` between neighbours). A
   cluster is a *burst* when it is dense (`MIN_BURST` events, at least `MIN_RATE_PER_MIN`) and
   improbably dense for the same key's rate outside it (`_is_burst`): routine errors that trickle
   all day are not incidents.
3. Bursts that start together, or that share a service or name each other's service, are chained
   into one incident while they keep overlapping (within `MERGE_GAP_S`).
4. Other lines inside an incident's window join it when every line of their kind falls there
   (symptoms that did not burst, a one-off crash just before); lines just *before* the burst join
   only if they plausibly started it (same service, named by it, or a cause-like kind).
5. An incident needs `MIN_INCIDENT_EVENTS` lines. Everything else is *background*: one small
   incident per key, marked as such.

The ranking of root-cause candidates (`rca.ranking`) runs on each incident; the fingerprint comes
from the top candidate's service and template, never from time, so a recurring incident gets the
same fingerprint every time it happens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from loginsight.insight import EvidenceLine, fingerprint_of
from loginsight.model import Level, LogRecord
from loginsight.redact import redact
from rca.knowledge import classify_cause
from rca.signatures import cause_line, named_services, service_aliases, signature

GAP_S = 90.0
MIN_BURST = 3
MIN_INCIDENT_EVENTS = 5  # fewer lines than this, even bursting together, stay background
MIN_RATE_PER_MIN = 1.5
BACKGROUND_FLOOR_PER_MIN = 0.1  # assumed rate of a kind of line never seen outside its burst
ALPHA = 0.01
MERGE_GAP_S = 120.0
ONSET_WINDOW_S = 120.0
LOOKBACK_S = 300.0
MAX_SAMPLES = 5
MAX_SAMPLE_CHARS = 2000
MAX_MENTION_SCAN = 3  # messages per key scanned for the names of other services

Key = tuple[str, str]


class TemplateSummary(BaseModel):
    """One kind of line inside an incident."""

    service: str
    template: str
    count: int
    first_seen: datetime
    last_seen: datetime
    level: str
    example: str
    cause_line: str
    role: Literal["burst", "precursor", "symptom", "background"]
    names: list[str] = Field(default_factory=list)  # other services its lines name


class Candidate(BaseModel):
    """A ranked root-cause candidate: a kind of line, with why it ranks where it does."""

    service: str
    template: str
    example: str
    cause_line: str
    first_seen: datetime
    count: int
    score: float
    kind: str | None = None  # knowledge-base kind, e.g. "out_of_memory"
    reasons: list[str] = Field(default_factory=list)


class Incident(BaseModel):
    """An incident (error lines that burst together, possibly across services) or a background
    group (one kind of routine error line). `service`/`template` name the root cause."""

    fingerprint: str
    kind: Literal["incident", "background"] = "incident"
    service: str
    template: str
    level: Level
    count: int
    first_seen: datetime
    last_seen: datetime
    hosts: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    sample_lines: list[str] = Field(default_factory=list)
    blast_radius: dict[str, int] = Field(default_factory=dict)
    templates: list[TemplateSummary] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    evidence: list[EvidenceLine] = Field(default_factory=list)
    confidence: float = 0.0


@dataclass
class _Group:
    """An incident being assembled: its burst clusters, then the lines that joined them."""

    onset: float
    end: float
    services: set[str]
    members: dict[Key, list[tuple[float, LogRecord]]] = field(default_factory=dict)
    roles: dict[Key, str] = field(default_factory=dict)

    def add(self, key: Key, events: list[tuple[float, LogRecord]], role: str) -> None:
        self.members.setdefault(key, []).extend(events)
        self.roles.setdefault(key, role)
        self.services.add(key[0])


def group_incidents(records: Sequence[LogRecord]) -> list[Incident]:
    """Incidents of a batch of error records, ranked, largest first; then background groups."""
    from rca.ranking import rank_incident  # ranking builds on the models above

    by_key: dict[Key, list[tuple[float, LogRecord]]] = {}
    for record in sorted(records, key=lambda r: (r.event_time, r.id)):
        key = (record.service, signature(record.message))
        by_key.setdefault(key, []).append((record.event_time.timestamp(), record))
    if not by_key:
        return []
    span = _span(by_key)
    aliases = service_aliases(service for service, _ in by_key)
    mentions = {key: _mentions(key, events, aliases) for key, events in by_key.items()}

    tests = max(1.0, span / 60.0) * len(by_key)
    bursts: list[tuple[Key, list[tuple[float, LogRecord]]]] = []
    rest: dict[Key, list[tuple[float, LogRecord]]] = {}
    for key, events in by_key.items():
        for cluster in _clusters(events):
            if _is_burst(cluster, len(events), span, tests):
                bursts.append((key, cluster))
            else:
                rest.setdefault(key, []).extend(cluster)
    groups = _chain_bursts(bursts, mentions)
    background = _attach_rest(groups, rest, mentions)
    for group in [g for g in groups if sum(map(len, g.members.values())) < MIN_INCIDENT_EVENTS]:
        groups.remove(group)
        for key, events in group.members.items():
            background.setdefault(key, []).extend(events)
    for events in background.values():
        events.sort(key=lambda e: (e[0], e[1].id))

    incidents = [rank_incident(_build(group, mentions), "incident") for group in groups]
    incidents.sort(key=lambda i: (-i.count, i.first_seen, i.fingerprint))
    quiet = [
        rank_incident(_build_background(key, events, mentions), "background")
        for key, events in background.items()
    ]
    quiet.sort(key=lambda i: (-i.count, i.first_seen, i.fingerprint))
    return incidents + quiet


def _span(by_key: dict[Key, list[tuple[float, LogRecord]]]) -> float:
    times = [t for events in by_key.values() for t, _ in events]
    return max(times) - min(times)


def _mentions(
    key: Key, events: list[tuple[float, LogRecord]], aliases: dict[str, list]
) -> set[str]:
    text = "\n".join(record.message[:MAX_SAMPLE_CHARS] for _, record in events[:MAX_MENTION_SCAN])
    return named_services(text, aliases, exclude=key[0])


def _clusters(events: list[tuple[float, LogRecord]]) -> list[list[tuple[float, LogRecord]]]:
    clusters: list[list[tuple[float, LogRecord]]] = [[events[0]]]
    for event in events[1:]:
        if event[0] - clusters[-1][-1][0] <= GAP_S:
            clusters[-1].append(event)
        else:
            clusters.append([event])
    return clusters


def _is_burst(
    cluster: list[tuple[float, LogRecord]], key_total: int, span: float, tests: float
) -> bool:
    """Dense, and too dense to be chance for this kind of line: the probability of so many lines
    in so short a time, at the rate seen outside the cluster (at least `BACKGROUND_FLOOR_PER_MIN`),
    is below `ALPHA` divided by the number of windows and kinds looked at (so a long, busy batch
    does not turn its routine errors into incidents by sheer number of chances)."""
    count = len(cluster)
    duration = max(cluster[-1][0] - cluster[0][0], 60.0)
    if count < MIN_BURST or count / duration * 60.0 < MIN_RATE_PER_MIN:
        return False
    outside_rate = (key_total - count) / max(span - duration, 60.0)
    expected = max(outside_rate, BACKGROUND_FLOOR_PER_MIN / 60.0) * duration
    return poisson_tail(count, expected) <= ALPHA / tests


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    term = math.exp(-mean)
    below = 0.0
    for k in range(count):
        below += term
        term *= mean / (k + 1)
    return max(0.0, 1.0 - below)


def _chain_bursts(
    bursts: list[tuple[Key, list[tuple[float, LogRecord]]]], mentions: dict[Key, set[str]]
) -> list[_Group]:
    groups: list[_Group] = []
    for key, cluster in sorted(bursts, key=lambda b: (b[1][0][0], b[0])):
        start, end = cluster[0][0], cluster[-1][0]
        target = next((g for g in groups if _belongs(key, start, g, mentions)), None)
        if target is None:
            target = _Group(onset=start, end=end, services=set())
            groups.append(target)
        target.add(key, cluster, "burst")
        target.end = max(target.end, end)
    return groups


def _belongs(key: Key, start: float, group: _Group, mentions: dict[Key, set[str]]) -> bool:
    if start > group.end + MERGE_GAP_S:
        return False
    if start - group.onset <= ONSET_WINDOW_S or key[0] in group.services:
        return True
    return _linked(key, group, mentions)


def _linked(key: Key, group: _Group, mentions: dict[Key, set[str]]) -> bool:
    """The line names one of the group's services, or one of the group's lines names its service."""
    if mentions[key] & group.services:
        return True
    return any(key[0] in mentions[member] for member in group.members)


def _attach_rest(
    groups: list[_Group],
    rest: dict[Key, list[tuple[float, LogRecord]]],
    mentions: dict[Key, set[str]],
) -> dict[Key, list[tuple[float, LogRecord]]]:
    """Join non-burst lines to the incident they belong to; return what is left (background)."""
    background: dict[Key, list[tuple[float, LogRecord]]] = {}
    burst_keys = _burst_keys(groups)
    for key, events in rest.items():
        if key in burst_keys:
            # Lines of a bursting kind: those near a burst of it join that incident.
            for event in events:
                group = _window_of(event[0], groups, key)
                if group is None:
                    background.setdefault(key, []).append(event)
                else:
                    group.add(key, [event], "burst")
            continue
        group = _group_containing(events, groups)
        if group is not None and _plausible_member(key, events, group, mentions):
            role = "precursor" if events[0][0] < group.onset else "symptom"
            group.add(key, events, role)
        else:
            background[key] = events
    return background


def _burst_keys(groups: list[_Group]) -> set[Key]:
    return {key for group in groups for key, role in group.roles.items() if role == "burst"}


def _window_of(t: float, groups: list[_Group], key: Key) -> _Group | None:
    for group in groups:
        if key in group.members and group.onset - GAP_S <= t <= group.end + GAP_S:
            return group
    return None


def _group_containing(events: list[tuple[float, LogRecord]], groups: list[_Group]) -> _Group | None:
    """The incident whose window holds every one of these lines, if any."""
    first, last = events[0][0], events[-1][0]
    for group in groups:
        if group.onset - LOOKBACK_S <= first and last <= group.end + MERGE_GAP_S:
            return group
    return None


def _plausible_member(
    key: Key, events: list[tuple[float, LogRecord]], group: _Group, mentions: dict[Key, set[str]]
) -> bool:
    """Lines after the onset are symptoms; lines before it must plausibly have started it."""
    if events[0][0] >= group.onset:
        return True
    if _linked(key, group, mentions):
        return True
    message = events[0][1].message
    knowledge = classify_cause(cause_line(message), message)
    strong = knowledge is not None and knowledge.role in ("cause", "change")
    earliest_service = min(group.members.items(), key=lambda kv: kv[1][0][0])[0][0]
    if key[0] == earliest_service:
        return strong or any(r.level == Level.FATAL for _, r in events)
    return strong and knowledge is not None and knowledge.weight >= 0.8 and key[0] in group.services


def _summary(
    key: Key, events: list[tuple[float, LogRecord]], role: str, mentions: dict[Key, set[str]]
) -> TemplateSummary:
    first = events[0][1]
    return TemplateSummary(
        service=key[0],
        template=redact(key[1]),
        count=len(events),
        first_seen=events[0][1].event_time,
        last_seen=events[-1][1].event_time,
        level=max((r.level for _, r in events), key=lambda lv: lv.severity_number).value,
        example=redact(first.message[:MAX_SAMPLE_CHARS]),
        cause_line=redact(cause_line(first.message)[:MAX_SAMPLE_CHARS]),
        role=role,  # type: ignore[arg-type]
        names=sorted(mentions[key]),
    )


def _build(group: _Group, mentions: dict[Key, set[str]]) -> Incident:
    summaries = []
    records: list[LogRecord] = []
    for key, events in group.members.items():
        events.sort(key=lambda e: (e[0], e[1].id))
        summaries.append(_summary(key, events, group.roles[key], mentions))
        records.extend(record for _, record in events)
    return _incident("incident", summaries, records)


def _build_background(
    key: Key, events: list[tuple[float, LogRecord]], mentions: dict[Key, set[str]]
) -> Incident:
    return _incident(
        "background",
        [_summary(key, events, "background", mentions)],
        [record for _, record in events],
    )


def _incident(kind: str, summaries: list[TemplateSummary], records: list[LogRecord]) -> Incident:
    records.sort(key=lambda r: (r.event_time, r.id))
    blast: dict[str, int] = {}
    for record in records:
        blast[record.service] = blast.get(record.service, 0) + 1
    first = summaries[0]
    return Incident(
        fingerprint=fingerprint_of(first.service, first.template),  # replaced by the ranking
        kind=kind,  # type: ignore[arg-type]
        service=first.service,
        template=first.template,
        level=max((r.level for r in records), key=lambda lv: lv.severity_number),
        count=len(records),
        first_seen=records[0].event_time,
        last_seen=records[-1].event_time,
        hosts=sorted({r.host for r in records if r.host})[:20],
        rules=sorted({rule for r in records for rule in r.matched_rules}),
        sample_lines=_samples(records),
        blast_radius=dict(sorted(blast.items(), key=lambda kv: (-kv[1], kv[0]))),
        templates=sorted(summaries, key=lambda s: (s.first_seen, s.service, s.template)),
    )


def _samples(records: Sequence[LogRecord]) -> list[str]:
    """Up to MAX_SAMPLES distinct lines, one per service first so every service is shown."""
    seen: list[str] = []
    ordered = list({r.service: r for r in reversed(records)}.values())[::-1] + list(records)
    for record in ordered:
        line = redact(record.message[:MAX_SAMPLE_CHARS])
        if line not in seen:
            seen.append(line)
        if len(seen) == MAX_SAMPLES:
            break
    return seen
