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
