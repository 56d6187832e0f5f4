"""The RCA analyzers behind one interface. This first local analyzer groups error events by
service and message template into incidents and writes a plain-language insight for each."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from loginsight.insight import Insight, fingerprint_of
from loginsight.model import Level, LogRecord
from loginsight.redact import redact
from rca.templates import template_of

MAX_SAMPLES = 5
MAX_SAMPLE_CHARS = 2000

# Phrases that point at a likely cause, checked in order; the first found names it.
_CAUSE_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("too many connections", "connection pool", "pool exhausted"), "connection pool exhaustion"),
    (
        ("connection refused", "econnrefused", "unreachable", "no route to host"),
        "a dependency that is down or unreachable",
    ),
    (("timeout", "timed out", "deadline exceeded"), "a slow or hanging dependency"),
    (("out of memory", "oom", "outofmemory", "cannot allocate"), "memory exhaustion"),
    (("disk full", "no space left"), "a full disk"),
    (
        ("permission denied", "unauthorized", "forbidden", "access denied"),
        "a credentials or permissions problem",
    ),
    (("deadlock",), "a database deadlock"),
    (
        ("nullpointer", "none type", "nonetype", "undefined is not"),
        "a code defect (null reference)",
    ),
]


class Incident(BaseModel):
    """Error events of one service sharing one message template, within one batch."""

    fingerprint: str
    service: str
    template: str
    level: Level
    count: int
    first_seen: datetime
    last_seen: datetime
    hosts: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    sample_lines: list[str] = Field(default_factory=list)


def group_incidents(records: Sequence[LogRecord]) -> list[Incident]:
    """Group records by (service, template); largest incident first."""
    groups: dict[tuple[str, str], list[LogRecord]] = {}
    for record in sorted(records, key=lambda r: (r.event_time, r.id)):
        groups.setdefault((record.service, template_of(record.message)), []).append(record)
    incidents = [
        Incident(
            fingerprint=fingerprint_of(service, template),
            service=service,
            template=template,
            level=max((r.level for r in members), key=lambda lv: lv.severity_number),
            count=len(members),
            first_seen=members[0].event_time,
            last_seen=members[-1].event_time,
            hosts=sorted({r.host for r in members if r.host}),
            rules=sorted({rule for r in members for rule in r.matched_rules}),
            sample_lines=_samples(members),
        )
        for (service, template), members in groups.items()
    ]
    return sorted(incidents, key=lambda i: (-i.count, i.first_seen, i.fingerprint))


def _samples(members: Sequence[LogRecord]) -> list[str]:
    seen: list[str] = []
    for record in members:
        line = redact(record.message[:MAX_SAMPLE_CHARS])
        if line not in seen:
            seen.append(line)
        if len(seen) == MAX_SAMPLES:
            break
    return seen


class Analyzer(ABC):
    name: str

    @abstractmethod
    def analyze(self, incidents: Sequence[Incident], batch_key: str) -> list[Insight]:
        """One insight per incident."""


class LocalAnalyzer(Analyzer):
    """Deterministic, offline: a title from the template, a summary from counts and cause hints."""

    name = "local"

    def analyze(self, incidents: Sequence[Incident], batch_key: str) -> list[Insight]:
        return [self._insight(incident, batch_key) for incident in incidents]

    def _insight(self, incident: Incident, batch_key: str) -> Insight:
        template = redact(incident.template)
        cause = likely_cause(" ".join([incident.template, *incident.sample_lines]))
        span = f"{incident.first_seen:%Y-%m-%d %H:%M:%S} to {incident.last_seen:%H:%M:%S} UTC"
        where = f" on {', '.join(incident.hosts[:5])}" if incident.hosts else ""
        summary = (
            f"{incident.count} {incident.level.value} event(s) in {incident.service}{where} "
            f'from {span} share the pattern "{template}".'
        )
        if cause:
            summary += f" Likely cause: {cause}."
        return Insight(
            fingerprint=incident.fingerprint,
            batch_key=batch_key,
            service=incident.service,
            template=template,
            title=f"{incident.service}: {template[:120]}",
            summary=summary,
            level=incident.level.value,
            count=incident.count,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            sample_lines=incident.sample_lines,
            analyzer=self.name,
        )


def likely_cause(text: str) -> str | None:
    lowered = text.lower()
    for phrases, cause in _CAUSE_HINTS:
        if any(phrase in lowered for phrase in phrases):
            return cause
    return None
