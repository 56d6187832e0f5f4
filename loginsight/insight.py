"""The RCA insight: what the analyzer found for one incident, as published and stored."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from loginsight.model import SCHEMA_VERSION


def fingerprint_of(service: str, template: str) -> str:
    """Stable identity of an incident kind: the same service and template give the same insight."""
    return hashlib.sha256(f"{service}\x1f{template}".encode()).hexdigest()[:32]


class EvidenceLine(BaseModel):
    """One log line that supports the analysis."""

    ts: datetime
    service: str
    line: str


# The root-cause fields of an insight, stored together (defaults keep older payloads readable).
ROOT_CAUSE_FIELDS = (
    "kind",
    "root_cause_service",
    "root_cause_template",
    "root_cause_example",
    "confidence",
    "evidence",
    "blast_radius",
    "next_steps",
)


class Insight(BaseModel):
    """One insight from one analyzed batch. `batch_key` names the batch (the sensor's offset range),
    so storing the same batch twice replaces its contribution instead of adding to it."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    batch_key: str
    service: str
    template: str
    title: str
    summary: str
    level: str
    count: int = Field(ge=1)
    first_seen: datetime
    last_seen: datetime
    sample_lines: list[str] = Field(default_factory=list)
    analyzer: str = "local"
    # What the LLM analyst spent on this insight (zero when local or answered from its cache),
    # and why it fell back to the local analysis, if it did.
    tokens_in: int = Field(default=0, ge=0)
    tokens_out: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    llm_model: str | None = None
    llm_error: str | None = None
    # The root-cause analysis. `kind` is "incident" for a burst of errors, "background" for
    # routine errors at their usual rate; `blast_radius` counts lines per service; `occurrences`
    # counts the separate bursts of this incident in the batch.
    kind: str = "incident"
    root_cause_service: str | None = None
    root_cause_template: str | None = None
    root_cause_example: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    evidence: list[EvidenceLine] = Field(default_factory=list)
    blast_radius: dict[str, int] = Field(default_factory=dict)
    next_steps: list[str] = Field(default_factory=list)
    occurrences: int = Field(default=1, ge=1)

    def to_bus(self) -> bytes:
        return json.dumps(
            {"v": SCHEMA_VERSION, "insight": self.model_dump(mode="json")},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_bus(cls, payload: bytes) -> Insight:
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("v") != SCHEMA_VERSION:
            raise ValueError("unsupported insight payload version")
        return cls.model_validate(body["insight"])


class StoredInsight(BaseModel):
    """An insight as the store reports it: totals over every batch that contributed."""

    fingerprint: str
    service: str
    template: str
    title: str
    summary: str
    level: str
    count: int
    first_seen: datetime
    last_seen: datetime
    sample_lines: list[str]
    analyzer: str
    batches: int
    kind: str = "incident"
    root_cause_service: str | None = None
    root_cause_template: str | None = None
    root_cause_example: str | None = None
    confidence: float = 0.0
    evidence: list[EvidenceLine] = Field(default_factory=list)
    blast_radius: dict[str, int] = Field(default_factory=dict)
    next_steps: list[str] = Field(default_factory=list)
    occurrences: int = 1  # bursts over every batch: "seen N times"


class InsightBatch(BaseModel):
    """One batch's contribution to a stored insight: when it saw the incident, and how often."""

    batch_key: str  # the sensor's offset range, also the run key of the run that analyzed it
    count: int
    first_seen: datetime
    last_seen: datetime
    occurrences: int = 1
