"""The insight store interface, and the SQL both adapters share.

Two tables: `insights` holds one row per fingerprint (the latest analysis text), and
`insight_batches` one row per (fingerprint, batch) with that batch's count and time span.
Both are written with upserts, so storing a batch again changes nothing, and totals are sums
over batches, so separate batches of the same incident add up exactly once each.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from loginsight.insight import Insight, StoredInsight

UPSERT_INSIGHT = """
INSERT INTO insights (fingerprint, service, template, title, summary, level, sample_lines,
                      analyzer, updated_at)
VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})
ON CONFLICT (fingerprint) DO UPDATE SET
    title = excluded.title, summary = excluded.summary, level = excluded.level,
    sample_lines = excluded.sample_lines, analyzer = excluded.analyzer,
    updated_at = excluded.updated_at
"""

UPSERT_BATCH = """
INSERT INTO insight_batches (fingerprint, batch_key, count, first_seen, last_seen)
VALUES ({p}, {p}, {p}, {p}, {p})
ON CONFLICT (fingerprint, batch_key) DO UPDATE SET
    count = excluded.count, first_seen = excluded.first_seen, last_seen = excluded.last_seen
"""

SELECT_INSIGHTS = """
SELECT i.fingerprint, i.service, i.template, i.title, i.summary, i.level, i.sample_lines,
       i.analyzer, SUM(b.count), MIN(b.first_seen), MAX(b.last_seen), COUNT(b.batch_key)
FROM insights i JOIN insight_batches b ON b.fingerprint = i.fingerprint
GROUP BY i.fingerprint, i.service, i.template, i.title, i.summary, i.level, i.sample_lines,
         i.analyzer
ORDER BY MAX(b.last_seen) DESC, i.fingerprint
LIMIT {p}
"""


def insight_rows(insight: Insight, now: datetime) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The parameters of UPSERT_INSIGHT and UPSERT_BATCH for one insight."""
    return (
        (
            insight.fingerprint,
            insight.service,
            insight.template,
            insight.title,
            insight.summary,
            insight.level,
            json.dumps(insight.sample_lines, ensure_ascii=False),
            insight.analyzer,
            now,
        ),
        (
            insight.fingerprint,
            insight.batch_key,
            insight.count,
            insight.first_seen,
            insight.last_seen,
        ),
    )


def stored_from_row(row: Sequence[Any]) -> StoredInsight:
    (fp, service, template, title, summary, level, samples, analyzer, count, first, last, n) = row
    return StoredInsight(
        fingerprint=fp,
        service=service,
        template=template,
        title=title,
        summary=summary,
        level=level,
        sample_lines=json.loads(samples),
        analyzer=analyzer,
        count=int(count),
        first_seen=first,
        last_seen=last,
        batches=int(n),
    )


class InsightStore(ABC):
    @abstractmethod
    def upsert(self, insights: Sequence[Insight]) -> None:
        """Store insights idempotently: the same (fingerprint, batch) twice is stored once."""

    @abstractmethod
    def list_insights(self, limit: int = 100) -> list[StoredInsight]:
        """Insights with totals over all batches, most recently seen first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> InsightStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
