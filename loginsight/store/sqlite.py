"""The embedded insight store: one SQLite file in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

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
        sample_lines TEXT NOT NULL, analyzer TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS insight_batches (
        fingerprint TEXT NOT NULL REFERENCES insights (fingerprint), batch_key TEXT NOT NULL,
        count INTEGER NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (fingerprint, batch_key))""",
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

    def upsert(self, insights: Sequence[Insight]) -> None:
        now = _iso(datetime.now(UTC))
        with self._lock, self._conn:
            for insight in insights:
                head, batch = insight_rows(insight, datetime.now(UTC))
                self._conn.execute(UPSERT_INSIGHT.format(p="?"), (*head[:-1], now))
                self._conn.execute(
                    UPSERT_BATCH.format(p="?"), (*batch[:3], _iso(batch[3]), _iso(batch[4]))
                )

    def list_insights(self, limit: int = 100) -> list[StoredInsight]:
        with self._lock:
            rows = self._conn.execute(SELECT_INSIGHTS.format(p="?"), (limit,)).fetchall()
        return [stored_from_row(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
