"""The production insight store: Postgres through psycopg 3."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from loginsight.insight import Insight, StoredInsight
from loginsight.store.base import (
    SELECT_INSIGHTS,
    UPSERT_BATCH,
    UPSERT_INSIGHT,
    InsightStore,
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
]


class PostgresInsightStore(InsightStore):
    """Each call runs in its own transaction on a fresh connection: a restarted server costs one
    failed call, never a half-written batch."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        with self._connect() as conn:
            for ddl in _SCHEMA:
                conn.execute(ddl)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self._dsn, connect_timeout=10)

    def upsert(self, insights: Sequence[Insight]) -> None:
        now = datetime.now(UTC)
        with self._connect() as conn, conn.cursor() as cur:
            for insight in insights:
                head, batch = insight_rows(insight, now)
                cur.execute(UPSERT_INSIGHT.format(p="%s"), head)
                cur.execute(UPSERT_BATCH.format(p="%s"), batch)

    def list_insights(self, limit: int = 100) -> list[StoredInsight]:
        with self._connect() as conn:
            rows = conn.execute(SELECT_INSIGHTS.format(p="%s"), (limit,)).fetchall()
        return [stored_from_row(row) for row in rows]
