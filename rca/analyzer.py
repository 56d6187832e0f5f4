"""The RCA analyzers behind one interface, and the local analyzer: deterministic and offline.

Grouping lives in `rca.incidents`, root-cause ranking in `rca.ranking`, the knowledge base of
failure kinds and next steps in `rca.knowledge`. This module turns each ranked incident into an
insight a person can act on. `Incident` and `group_incidents` are re-exported here so callers have
one import for the whole engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from loginsight.insight import Insight
from loginsight.redact import redact
from rca.incidents import Incident, group_incidents
from rca.knowledge import classify, classify_cause, next_steps_for

__all__ = ["Analyzer", "Incident", "LocalAnalyzer", "group_incidents", "likely_cause"]

MAX_EXAMPLE_CHARS = 2000


class Analyzer(ABC):
    name: str

    @abstractmethod
    def analyze(self, incidents: Sequence[Incident], batch_key: str) -> list[Insight]:
        """One insight per incident fingerprint (separate bursts of one incident are merged)."""


class LocalAnalyzer(Analyzer):
    """A title, summary and next steps from the ranked root cause, its evidence and the
    knowledge base; no network, same input gives the same output."""

    name = "local"

    def analyze(self, incidents: Sequence[Incident], batch_key: str) -> list[Insight]:
        by_fingerprint: dict[str, list[Incident]] = {}
        for incident in incidents:
            by_fingerprint.setdefault(incident.fingerprint, []).append(incident)
        return [self._insight(group, batch_key) for group in by_fingerprint.values()]

    def _insight(self, group: list[Incident], batch_key: str) -> Insight:
        # Bursts of one incident within a batch are one insight that counts its occurrences,
        # because the store keeps one row per (fingerprint, batch).
        lead = max(group, key=lambda i: (i.count, i.first_seen))
        blast: dict[str, int] = {}
        for incident in group:
            for service, count in incident.blast_radius.items():
                blast[service] = blast.get(service, 0) + count
        count = sum(i.count for i in group)
        first_seen = min(i.first_seen for i in group)
        last_seen = max(i.last_seen for i in group)
        top = lead.candidates[0] if lead.candidates else None
        root_line = top.cause_line if top else lead.template
        example = top.example if top else (lead.sample_lines[:1] or [lead.template])[0]
        return Insight(
            fingerprint=lead.fingerprint,
            batch_key=batch_key,
            service=lead.service,
            template=redact(lead.template),
            title=_title(lead, root_line, blast, count),
            summary=_summary(lead, group, root_line, blast, count, first_seen, last_seen),
            level=max((i.level for i in group), key=lambda lv: lv.severity_number).value,
            count=count,
            first_seen=first_seen,
            last_seen=last_seen,
            sample_lines=_root_first(example, lead.sample_lines),
            analyzer=self.name,
            kind=lead.kind,
            root_cause_service=lead.service,
            root_cause_template=redact(lead.template),
            root_cause_example=redact(example[:MAX_EXAMPLE_CHARS]),
            confidence=lead.confidence,
            evidence=lead.evidence,
            blast_radius=dict(sorted(blast.items(), key=lambda kv: (-kv[1], kv[0]))),
            next_steps=next_steps_for(root_line, example),
            occurrences=len(group),
        )


def _root_first(example: str, samples: list[str]) -> list[str]:
    line = redact(example[:MAX_EXAMPLE_CHARS])
    return [line, *(s for s in samples if s != line)][: len(samples) or 1]


def _title(incident: Incident, root_line: str, blast: dict[str, int], count: int) -> str:
    knowledge = classify_cause(root_line, incident.template)
    what = knowledge.meaning if knowledge else redact(root_line)[:100]
    if incident.kind == "background":
        return f"{incident.service}: {what} (routine, {count} line(s))"
    others = len(blast) - 1
    spread = f", {others} more service(s) affected" if others > 0 else ""
    return f"{incident.service}: {what}{spread}"


def _summary(
    lead: Incident,
    group: list[Incident],
    root_line: str,
    blast: dict[str, int],
    count: int,
    first_seen: object,
    last_seen: object,
) -> str:
    span = f"{first_seen:%Y-%m-%d %H:%M:%S} to {last_seen:%H:%M:%S} UTC"
    services = ", ".join(f"{service} ({n})" for service, n in blast.items())
    if lead.kind == "background":
        text = (
            f"{count} {lead.level.value} line(s) in {lead.service} from {span} at their usual "
            f'rate, sharing the pattern "{redact(lead.template)}".'
        )
    else:
        repeats = (
            f" It happened {len(group)} separate times in this batch." if len(group) > 1 else ""
        )
        text = (
            f"{count} error line(s) across {services} from {span}.{repeats} "
            f"Most likely root cause ({lead.confidence:.0%} confidence): {lead.service}, "
            f'"{redact(root_line)[:300]}".'
        )
    knowledge = classify_cause(root_line, lead.template)
    cause = knowledge.meaning if knowledge else None
    if cause:
        text += f" Likely cause: {cause}."
    if lead.candidates and lead.kind == "incident":
        why = "; ".join(lead.candidates[0].reasons)
        text += f" Why: {why}."
    return text


def likely_cause(text: str) -> str | None:
    """What a line says went wrong, in plain words, from the knowledge base."""
    knowledge = classify(text)
    return knowledge.meaning if knowledge else None
