"""The embedded insight store: one SQLite file in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

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
        sample_lines TEXT NOT NULL, analyzer TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS insight_batches (
        fingerprint TEXT NOT NULL REFERENCES insights (fingerprint), batch_key TEXT NOT NULL,
        count INTEGER NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (fingerprint, batch_key))""",
    """CREATE TABLE IF NOT EXISTS failed_runs (
        run_id TEXT PRIMARY KEY, job_name TEXT NOT NULL, run_key TEXT, partition_key TEXT,
        error TEXT NOT NULL, failed_at TEXT NOT NULL)""",
]


def _iso(value: datetime) -> str:
    # One fixed-width UTC form, so text order is time order in SQLite.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SQLiteInsightStore(InsightStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        with self._conn:
            for ddl in _SCHEMA:
                self._conn.execute(ddl)
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # SQLite has no ADD COLUMN IF NOT EXISTS: look at the table first.
        for table, column, spec in MIGRATIONS:
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {spec}")

    def upsert(self, insights: Sequence[Insight]) -> None:
        with self._lock, self._conn:
            self._write(insights)

    def replace_hour(self, hour: str, insights: Sequence[Insight]) -> None:
        delete, params = hour_replacement(hour, insights)
        with self._lock, self._conn:
            self._conn.execute(delete.format(p="?"), params)
            self._write(insights)

    def _write(self, insights: Sequence[Insight]) -> None:
        """Upsert inside the caller's transaction (the caller holds the lock)."""
        now = _iso(datetime.now(UTC))
        for insight in insights:
            head, batch = insight_rows(insight, datetime.now(UTC))
            self._conn.execute(UPSERT_INSIGHT.format(p="?"), (*head[:-2], now, head[-1]))
            self._conn.execute(
                UPSERT_BATCH.format(p="?"),
                (*batch[:3], _iso(batch[3]), _iso(batch[4]), *batch[5:]),
            )

    def list_insights(self, limit: int = 100) -> list[StoredInsight]:
        with self._lock:
            rows = self._conn.execute(SELECT_INSIGHTS.format(p="?"), (limit,)).fetchall()
        return [stored_from_row(row) for row in rows]

    def batch_keys(self, fingerprint: str, limit: int = 10) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                SELECT_BATCH_KEYS.format(p="?"), (fingerprint, limit)
            ).fetchall()
        return [key for (key,) in rows]

    def get_insight(self, fingerprint: str) -> StoredInsight | None:
        with self._lock:
            row = self._conn.execute(SELECT_INSIGHT.format(p="?"), (fingerprint, 1)).fetchone()
        return stored_from_row(row) if row else None

    def insight_batches(self, fingerprint: str) -> list[InsightBatch]:
        with self._lock:
            rows = self._conn.execute(SELECT_BATCHES.format(p="?"), (fingerprint,)).fetchall()
        return [batch_from_row(row) for row in rows]

    def record_failed_run(self, failed: FailedRun) -> None:
        row = failed.model_dump()
        with self._lock, self._conn:
            self._conn.execute(
                UPSERT_FAILED_RUN.format(p="?"),
                (
                    row["run_id"],
                    row["job_name"],
                    row["run_key"],
                    row["partition_key"],
                    row["error"],
                    _iso(failed.failed_at),
                ),
            )

    def failed_runs(self, limit: int = 100) -> list[FailedRun]:
        with self._lock:
            rows = self._conn.execute(SELECT_FAILED_RUNS.format(p="?"), (limit,)).fetchall()
        return [failed_run_from_row(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
