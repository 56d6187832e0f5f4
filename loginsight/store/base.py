"""The insight store interface, and the SQL both adapters share.

Two tables: `insights` holds one row per fingerprint (the latest analysis text), and
`insight_batches` one row per (fingerprint, batch) with that batch's count and time span.
The root-cause fields of the latest analysis are one JSON text column, `insights.details`, and
each batch row counts the incident's separate bursts (`occurrences`); both columns are added to
databases created before them (`MIGRATIONS`). Both tables are written with upserts, so storing a
batch again changes nothing, and totals are sums over batches, so separate batches of the same
incident add up exactly once each.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from loginsight.batch_keys import hour_suffix
from loginsight.failed_run import FailedRun
from loginsight.insight import ROOT_CAUSE_FIELDS, Insight, InsightBatch, StoredInsight

UPSERT_INSIGHT = """
INSERT INTO insights (fingerprint, service, template, title, summary, level, sample_lines,
                      analyzer, updated_at, details)
VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})
ON CONFLICT (fingerprint) DO UPDATE SET
    title = excluded.title, summary = excluded.summary, level = excluded.level,
    sample_lines = excluded.sample_lines, analyzer = excluded.analyzer,
    updated_at = excluded.updated_at, details = excluded.details
"""

UPSERT_BATCH = """
INSERT INTO insight_batches (fingerprint, batch_key, count, first_seen, last_seen, occurrences)
VALUES ({p}, {p}, {p}, {p}, {p}, {p})
ON CONFLICT (fingerprint, batch_key) DO UPDATE SET
    count = excluded.count, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
    occurrences = excluded.occurrences
"""

# Columns added after the first release: (table, column, SQL type and default).
MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("insights", "details", "TEXT NOT NULL DEFAULT '{}'"),
    ("insight_batches", "occurrences", "INTEGER NOT NULL DEFAULT 1"),
)

SELECT_INSIGHTS = """
SELECT i.fingerprint, i.service, i.template, i.title, i.summary, i.level, i.sample_lines,
       i.analyzer, SUM(b.count), MIN(b.first_seen), MAX(b.last_seen), COUNT(b.batch_key),
       i.details, SUM(b.occurrences)
FROM insights i JOIN insight_batches b ON b.fingerprint = i.fingerprint
GROUP BY i.fingerprint, i.service, i.template, i.title, i.summary, i.level, i.sample_lines,
         i.analyzer, i.details
ORDER BY MAX(b.last_seen) DESC, i.fingerprint
LIMIT {p}
"""

# One insight: SELECT_INSIGHTS narrowed to a fingerprint, so both read the same columns.
SELECT_INSIGHT = SELECT_INSIGHTS.replace("GROUP BY", "WHERE i.fingerprint = {p}\nGROUP BY", 1)

SELECT_BATCHES = """
SELECT batch_key, count, first_seen, last_seen, occurrences FROM insight_batches
WHERE fingerprint = {p} ORDER BY first_seen, batch_key
"""

SELECT_BATCH_KEYS = """
SELECT batch_key FROM insight_batches WHERE fingerprint = {p}
ORDER BY last_seen DESC, batch_key LIMIT {p}
"""


# Runs the run-failure sensor saw fail, one row per run id (a replayed tick changes nothing).
UPSERT_FAILED_RUN = """
INSERT INTO failed_runs (run_id, job_name, run_key, partition_key, error, failed_at)
VALUES ({p}, {p}, {p}, {p}, {p}, {p})
ON CONFLICT (run_id) DO NOTHING
"""

SELECT_FAILED_RUNS = """
SELECT run_id, job_name, run_key, partition_key, error, failed_at FROM failed_runs
ORDER BY failed_at DESC, run_id LIMIT {p}
"""


def hour_replacement(hour: str, insights: Sequence[Insight]) -> tuple[str, tuple[str, ...]]:
    """The DELETE (with `{p}` placeholders) and parameters that drop every batch of `hour`
    except the replacing batches of `insights`, which must all be batches of that hour."""
    suffix = hour_suffix(hour)
    kept = sorted({insight.batch_key for insight in insights})
    strays = [key for key in kept if not key.endswith(suffix)]
    if strays:
        raise ValueError(f"batches {strays} are not batches of hour {hour}")
    sql = "DELETE FROM insight_batches WHERE batch_key LIKE {p}"
    if kept:
        sql += " AND batch_key NOT IN (" + ", ".join(["{p}"] * len(kept)) + ")"
    return sql, ("%" + suffix, *kept)


def failed_run_from_row(row: Sequence[Any]) -> FailedRun:
    run_id, job_name, run_key, partition_key, error, failed_at = row
    return FailedRun(
        run_id=run_id,
        job_name=job_name,
        run_key=run_key,
        partition_key=partition_key,
        error=error,
        failed_at=failed_at,
    )


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
            json.dumps(
                insight.model_dump(mode="json", include=set(ROOT_CAUSE_FIELDS)),
                ensure_ascii=False,
            ),
        ),
        (
            insight.fingerprint,
            insight.batch_key,
            insight.count,
            insight.first_seen,
            insight.last_seen,
            insight.occurrences,
        ),
    )


def stored_from_row(row: Sequence[Any]) -> StoredInsight:
    (fp, service, template, title, summary, level, samples, analyzer, count, first, last, n) = row[
        :12
    ]
    details, occurrences = row[12:14]
    return StoredInsight(
        **(json.loads(details) if details else {}),
        occurrences=int(occurrences or n),
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


def batch_from_row(row: Sequence[Any]) -> InsightBatch:
    batch_key, count, first_seen, last_seen, occurrences = row
    return InsightBatch(
        batch_key=batch_key,
        count=int(count),
        first_seen=first_seen,
        last_seen=last_seen,
        occurrences=int(occurrences or 1),
    )


class InsightStore(ABC):
    @abstractmethod
    def upsert(self, insights: Sequence[Insight]) -> None:
        """Store insights idempotently: the same (fingerprint, batch) twice is stored once."""

    @abstractmethod
    def replace_hour(self, hour: str, insights: Sequence[Insight]) -> None:
        """In one transaction, drop every stored batch of event hour `hour` (`2026-03-02T10`)
        other than the batches of `insights`, then upsert `insights`: after a backfill of the
        hour, its totals are exactly what the backfill found, however often it ran before."""

    @abstractmethod
    def list_insights(self, limit: int = 100) -> list[StoredInsight]:
        """Insights with totals over all batches, most recently seen first."""

    @abstractmethod
    def batch_keys(self, fingerprint: str, limit: int = 10) -> list[str]:
        """Keys of the batches (the analyze runs' run keys) that saw this insight, latest first."""

    @abstractmethod
    def get_insight(self, fingerprint: str) -> StoredInsight | None:
        """One insight with its totals, or None when no batch has stored it."""

    @abstractmethod
    def insight_batches(self, fingerprint: str) -> list[InsightBatch]:
        """Every batch that saw this insight, oldest first: its occurrences over time."""

    @abstractmethod
    def record_failed_run(self, failed: FailedRun) -> None:
        """Remember a failed run once (by run id), so it can be found and retried."""

    @abstractmethod
    def failed_runs(self, limit: int = 100) -> list[FailedRun]:
        """Failed runs, most recent first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> InsightStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
