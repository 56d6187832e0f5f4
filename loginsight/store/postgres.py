"""The production insight store: Postgres through psycopg 3."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from loginsight.failed_run import FailedRun
from loginsight.insight import Insight, InsightBatch, StoredInsight
from loginsight.store.base import (
    MIGRATIONS,
    SELECT_BATCH_KEYS,
    SELECT_BATCHES,
    SELECT_FAILED_RUNS,
    SELECT_INSIGHT,
    SELECT_INSIGHTS,
    UPSERT_BATCH,
    UPSERT_FAILED_RUN,
    UPSERT_INSIGHT,
    InsightStore,
    batch_from_row,
    failed_run_from_row,
    hour_replacement,
    insight_rows,
    stored_from_row,
)

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS insights (
        fingerprint TEXT PRIMARY KEY, service TEXT NOT NULL, template TEXT NOT NULL,
        title TEXT NOT NULL, summary TEXT NOT NULL, level TEXT NOT NULL,
        sample_lines TEXT NOT NULL, analyzer TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS insight_batches (
        fingerprint TEXT NOT NULL REFERENCES insights (fingerprint), batch_key TEXT NOT NULL,
        count INTEGER NOT NULL, first_seen TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (fingerprint, batch_key))""",
    """CREATE TABLE IF NOT EXISTS failed_runs (
        run_id TEXT PRIMARY KEY, job_name TEXT NOT NULL, run_key TEXT, partition_key TEXT,
        error TEXT NOT NULL, failed_at TIMESTAMPTZ NOT NULL)""",
]

_COLUMNS = """SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name IN ('insights', 'insight_batches')"""


class PostgresInsightStore(InsightStore):
    """Each call runs in its own transaction on a fresh connection: a restarted server costs one
    failed call, never a half-written batch."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        with self._connect() as conn:
            for ddl in _SCHEMA:
                conn.execute(ddl)
            present = set(conn.execute(_COLUMNS).fetchall())
            for table, column, spec in MIGRATIONS:
                # Checked first, so a store that is up to date takes no table lock here.
                if (table, column) not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {spec}")

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self._dsn, connect_timeout=10)

    def upsert(self, insights: Sequence[Insight]) -> None:
        now = datetime.now(UTC)
        with self._connect() as conn, conn.cursor() as cur:
            for insight in insights:
                head, batch = insight_rows(insight, now)
                cur.execute(UPSERT_INSIGHT.format(p="%s"), head)
                cur.execute(UPSERT_BATCH.format(p="%s"), batch)

    def replace_hour(self, hour: str, insights: Sequence[Insight]) -> None:
        delete, params = hour_replacement(hour, insights)
        now = datetime.now(UTC)
        # One transaction: readers see the hour's old batches or its new ones, never neither.
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(delete.format(p="%s"), params)
            for insight in insights:
                head, batch = insight_rows(insight, now)
                cur.execute(UPSERT_INSIGHT.format(p="%s"), head)
                cur.execute(UPSERT_BATCH.format(p="%s"), batch)

    def list_insights(self, limit: int = 100) -> list[StoredInsight]:
        with self._connect() as conn:
            rows = conn.execute(SELECT_INSIGHTS.format(p="%s"), (limit,)).fetchall()
        return [stored_from_row(row) for row in rows]

    def batch_keys(self, fingerprint: str, limit: int = 10) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(SELECT_BATCH_KEYS.format(p="%s"), (fingerprint, limit)).fetchall()
        return [key for (key,) in rows]

    def get_insight(self, fingerprint: str) -> StoredInsight | None:
        with self._connect() as conn:
            row = conn.execute(SELECT_INSIGHT.format(p="%s"), (fingerprint, 1)).fetchone()
        return stored_from_row(row) if row else None

    def insight_batches(self, fingerprint: str) -> list[InsightBatch]:
        with self._connect() as conn:
            rows = conn.execute(SELECT_BATCHES.format(p="%s"), (fingerprint,)).fetchall()
        return [batch_from_row(row) for row in rows]

    def record_failed_run(self, failed: FailedRun) -> None:
        with self._connect() as conn:
            conn.execute(
                UPSERT_FAILED_RUN.format(p="%s"),
                (
                    failed.run_id,
                    failed.job_name,
                    failed.run_key,
                    failed.partition_key,
                    failed.error,
                    failed.failed_at,
                ),
            )

    def failed_runs(self, limit: int = 100) -> list[FailedRun]:
        with self._connect() as conn:
            rows = conn.execute(SELECT_FAILED_RUNS.format(p="%s"), (limit,)).fetchall()
        return [failed_run_from_row(row) for row in rows]
