"""Insight stores created before the root-cause columns gain them on open (SQLite and Postgres)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from loginsight.store.postgres import PostgresInsightStore
from loginsight.store.sqlite import SQLiteInsightStore
from tests.test_store import make_insight

OLD_SCHEMA = [
    """CREATE TABLE insights (
        fingerprint TEXT PRIMARY KEY, service TEXT NOT NULL, template TEXT NOT NULL,
        title TEXT NOT NULL, summary TEXT NOT NULL, level TEXT NOT NULL,
        sample_lines TEXT NOT NULL, analyzer TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE insight_batches (
        fingerprint TEXT NOT NULL REFERENCES insights (fingerprint), batch_key TEXT NOT NULL,
        count INTEGER NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (fingerprint, batch_key))""",
]
OLD_ROWS = [
    "INSERT INTO insights VALUES ('fp', 'auth', 't', 'old', 's', 'error', '[]', 'local', "
    "'2025-01-01T00:00:00.000000Z')",
    "INSERT INTO insight_batches VALUES ('fp', 'b0', 4, '2025-01-01T00:00:00.000000Z', "
    "'2025-01-01T00:01:00.000000Z')",
]


def test_sqlite_store_migrates_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        for sql in OLD_SCHEMA + OLD_ROWS:
            conn.execute(sql)

    with SQLiteInsightStore(path) as store:
        [old] = store.list_insights()
        assert (old.count, old.occurrences, old.root_cause_service) == (4, 1, None)
        store.upsert([make_insight(root_cause_service="checkout", occurrences=2)])
        assert {s.root_cause_service for s in store.list_insights()} == {None, "checkout"}
    with SQLiteInsightStore(path) as reopened:  # a second open migrates nothing twice
        assert len(reopened.list_insights()) == 2


@pytest.mark.postgres
def test_postgres_store_migrates_old_tables(clean_postgres: str) -> None:
    with psycopg.connect(clean_postgres) as conn:
        for sql in OLD_SCHEMA:
            for column in ("updated_at", "first_seen", "last_seen"):
                sql = sql.replace(f"{column} TEXT", f"{column} TIMESTAMPTZ")
            conn.execute(sql)
        for sql in OLD_ROWS:
            conn.execute(sql)

    store = PostgresInsightStore(clean_postgres)
    [old] = store.list_insights()
    assert (old.count, old.occurrences, old.kind) == (4, 1, "incident")
    store.upsert([make_insight(root_cause_service="checkout", occurrences=2)])
    assert {s.root_cause_service for s in store.list_insights()} == {None, "checkout"}
    PostgresInsightStore(clean_postgres).close()  # opening again is a no-op
