"""Root-cause ranking: which kind of line in an incident most likely started it.

Each kind of line (`TemplateSummary`) is scored on the evidence an on-call engineer weighs:
- **onset**: the earliest anomalous line is the best first guess; the score decays with the delay
  after the incident's first burst (`ONSET_DECAY_S`), and lines just before the burst score most;
- **knowledge**: what the line says (`rca.knowledge`): running out of a resource, a refused
  permission, a deploy or restart points at a cause; a timeout or a refused connection usually
  points at someone else;
- **propagation**: a service that other services' errors name ("upstream payments-db timed out")
  is likely the callee that failed first; a line naming another service of the incident is
  likely a caller's symptom;
- **chained exceptions**: the innermost `Caused by:` of a stack trace, not its outer wrapper, is
  what the knowledge base reads, and an explicit chain is itself evidence;
- **severity**: a fatal line or a crash weighs a little more.
The weights below are fixed for every incident and were chosen by reasoning, not fitted per
scenario; `docs/benchmarks.md` reports how well they do.
"""

from __future__ import annotations

import math
from datetime import datetime

from loginsight.insight import EvidenceLine, fingerprint_of
from loginsight.redact import redact
from rca.incidents import Candidate, Incident, TemplateSummary
from rca.knowledge import classify_cause
from rca.signatures import is_chained

ONSET_DECAY_S = 30.0
MAX_CANDIDATES = 5
MAX_EVIDENCE = 10
MAX_EVIDENCE_CHARS = 500

W_ONSET = 0.40
W_KNOWLEDGE = 0.30
W_NAMED_BY = 0.20
W_CALLER = 0.10
W_CHAIN = 0.05
W_FATAL = 0.05
W_PRECURSOR = 0.05


def rank_incident(incident: Incident, kind: str) -> Incident:
    """The incident with ranked candidates, its root cause, confidence and evidence filled in."""
    onset = min(
        (s.first_seen for s in incident.templates if s.role == "burst"),
        default=incident.first_seen,
    )
    named_by = _named_by(incident.templates)
    candidates = sorted(
        (_candidate(s, onset, named_by) for s in incident.templates),
        key=lambda c: (-c.score, c.first_seen, c.service, c.template),
    )[:MAX_CANDIDATES]
    top = candidates[0]
    return incident.model_copy(
        update={
            "kind": kind,
            "service": top.service,
            "template": top.template,
            "fingerprint": fingerprint_of(top.service, top.template),
            "candidates": candidates,
            "confidence": _confidence(candidates),
            "evidence": _evidence(incident.templates, top),
        }
    )


def _named_by(templates: list[TemplateSummary]) -> dict[str, set[str]]:
    """For each service, the other services whose lines name it *after* it started failing:
    a callee fails first and its callers then report it."""
    started: dict[str, datetime] = {}
    for summary in templates:
        seen = started.get(summary.service)
        started[summary.service] = min(seen, summary.first_seen) if seen else summary.first_seen
    named: dict[str, set[str]] = {}
    for summary in templates:
        for service in summary.names:
            if service in started and started[service] <= summary.first_seen:
                named.setdefault(service, set()).add(summary.service)
    return named


def _candidate(
    summary: TemplateSummary, onset: datetime, named_by: dict[str, set[str]]
) -> Candidate:
    reasons: list[str] = []
    delay = (summary.first_seen - onset).total_seconds()
    onset_score = math.exp(-max(delay, 0.0) / ONSET_DECAY_S)
    if delay <= 0:
        reasons.append("first anomalous line of the incident" if delay == 0 else "just before")
    else:
        reasons.append(f"starts {delay:.0f}s after the first burst")

    knowledge = classify_cause(summary.cause_line, summary.example)
    knowledge_score = 0.0
    if knowledge is not None:
        if knowledge.role in ("cause", "change"):
            knowledge_score = knowledge.weight
            reasons.append(f"{knowledge.meaning} ({knowledge.kind})")
        elif knowledge.role == "symptom":
            knowledge_score = -knowledge.weight
            reasons.append(f"looks like a symptom: {knowledge.meaning}")

    callers = named_by.get(summary.service, set()) - {summary.service}
    named_score = min(len(callers), 2) / 2
    if callers:
        reasons.append(f"named by {', '.join(sorted(callers))}")
    # It names a service that was already failing: the view of a caller.
    calls = {name for name in summary.names if summary.service in named_by.get(name, set())}
    if calls:
        reasons.append(f"names {', '.join(sorted(calls))} (a caller's view)")

    chained = is_chained(summary.example)
    if chained:
        reasons.append("innermost cause of a chained exception")
    fatal = summary.level == "fatal"
    score = (
        W_ONSET * onset_score
        + W_KNOWLEDGE * knowledge_score
        + W_NAMED_BY * named_score
        - W_CALLER * bool(calls)
        + W_CHAIN * chained
        + W_FATAL * fatal
        + W_PRECURSOR * (summary.role == "precursor")
    )
    return Candidate(
        service=summary.service,
        template=summary.template,
        example=summary.example,
        cause_line=summary.cause_line,
        first_seen=summary.first_seen,
        count=summary.count,
        score=round(score, 4),
        kind=knowledge.kind if knowledge else None,
        reasons=reasons,
    )


def _confidence(candidates: list[Candidate]) -> float:
    """How far the top candidate stands out: near 1 when it clearly leads, near 0.5 for a tie
    with the runner-up from another service, lower when every score is weak."""
    top = candidates[0]
    rivals = [c for c in candidates[1:] if c.service != top.service]
    strength = max(0.0, min(1.0, top.score / 0.8))
    if not rivals:
        return round(0.5 + 0.45 * strength, 2)
    margin = max(0.0, top.score - rivals[0].score)
    return round(max(0.05, min(0.99, 0.5 * strength + margin)), 2)


def _evidence(templates: list[TemplateSummary], top: Candidate) -> list[EvidenceLine]:
    """The root cause's first line, then the first line of each other kind, in time order."""
    lines = [
        EvidenceLine(ts=s.first_seen, service=s.service, line=_short(s.cause_line or s.example))
        for s in templates
    ]
    root = [e for e, s in zip(lines, templates, strict=True) if s.template == top.template]
    others = [e for e, s in zip(lines, templates, strict=True) if s.template != top.template]
    chosen = root[:1] + others[: MAX_EVIDENCE - 1]
    return sorted(chosen, key=lambda e: (e.ts, e.service))


def _short(line: str) -> str:
    return redact(line[:MAX_EVIDENCE_CHARS])
