"""Failed runs in the insight store, on both adapters: recorded once per run id, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from loginsight.failed_run import FailedRun
from loginsight.store import InsightStore

T0 = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InsightStore]:
    backend: InsightStore
    if request.param == "sqlite":
        from loginsight.store.sqlite import SQLiteInsightStore

        backend = SQLiteInsightStore(tmp_path / "insights.sqlite")
    else:
        from loginsight.store.postgres import PostgresInsightStore

        dsn = request.getfixturevalue("clean_postgres")
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            conn.execute("DROP TABLE IF EXISTS failed_runs")
        backend = PostgresInsightStore(dsn)
    yield backend
    backend.close()


def failed(run_id: str, at: datetime, **fields: object) -> FailedRun:
    return FailedRun.model_validate(
        {"run_id": run_id, "job_name": "analyze_logs", "failed_at": at, "error": "boom", **fields}
    )


def test_failed_runs_are_recorded_once_and_listed_newest_first(store: InsightStore) -> None:
    first = failed("run-1", T0, run_key="logs.to.analyze@p0:0-10", error="bus down ' \" ;")
    second = failed("run-2", T0 + timedelta(minutes=1), partition_key="2025-03-14T09")
    store.record_failed_run(first)
    store.record_failed_run(second)
    store.record_failed_run(first.model_copy(update={"error": "replayed"}))
    listed = store.failed_runs()
    assert [r.run_id for r in listed] == ["run-2", "run-1"]
    assert listed[1] == first  # the first record stays; a replay changes nothing
    assert listed[0].partition_key == "2025-03-14T09" and listed[0].run_key is None
    assert store.failed_runs(limit=1) == [second]


def test_no_failed_run_lists_nothing(store: InsightStore) -> None:
    assert store.failed_runs() == []
