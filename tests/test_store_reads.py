"""The insight store's reads for one incident (the dashboard's incident page), on SQLite and
Postgres alike: `get_insight` and `insight_batches`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from loginsight.store import InsightStore
from tests.test_store import T0, make_insight


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InsightStore]:
    backend: InsightStore
    if request.param == "sqlite":
        from loginsight.store.sqlite import SQLiteInsightStore

        backend = SQLiteInsightStore(tmp_path / "insights.sqlite")
    else:
        from loginsight.store.postgres import PostgresInsightStore

        backend = PostgresInsightStore(request.getfixturevalue("clean_postgres"))
    yield backend
    backend.close()


def test_get_insight_returns_the_totals_list_insights_reports(store: InsightStore) -> None:
    wanted = make_insight(batch_key="b1", count=4)
    other = make_insight(service="auth", template="token <*> expired", batch_key="b1")
    store.upsert([wanted, other])
    store.upsert([make_insight(batch_key="b2", count=6, first_seen=T0 + timedelta(hours=1))])

    got = store.get_insight(wanted.fingerprint)

    assert got is not None
    listed = {i.fingerprint: i for i in store.list_insights()}
    assert got == listed[wanted.fingerprint]
    assert (got.service, got.count, got.batches) == ("checkout", 10, 2)
    assert got.first_seen == T0
    assert got.last_seen == T0 + timedelta(hours=1, seconds=42)


def test_get_insight_of_an_unknown_fingerprint_is_none(store: InsightStore) -> None:
    store.upsert([make_insight()])
    assert store.get_insight("0" * 32) is None
    assert store.get_insight("' OR 1=1 --") is None  # a parameter, never SQL


def test_insight_batches_lists_each_batch_oldest_first(store: InsightStore) -> None:
    late = make_insight(
        batch_key="logs.to.analyze@p0:100-200",
        count=6,
        first_seen=T0 + timedelta(minutes=30),
        last_seen=T0 + timedelta(minutes=31),
    )
    early = make_insight(batch_key="logs.to.analyze@p0:0-100", count=4, first_seen=T0)
    store.upsert([late, early])
    store.upsert([late])  # stored again: still one batch
    store.upsert([make_insight(service="auth", template="other", batch_key="x")])

    batches = store.insight_batches(early.fingerprint)

    assert [b.batch_key for b in batches] == [
        "logs.to.analyze@p0:0-100",
        "logs.to.analyze@p0:100-200",
    ]
    assert [b.count for b in batches] == [4, 6]
    assert batches[0].first_seen == T0  # exact to the microsecond, with a time zone
    assert batches[0].first_seen.tzinfo is not None
    assert batches[1].last_seen == T0 + timedelta(minutes=31)
    assert all(b.occurrences >= 1 for b in batches)
    assert store.insight_batches("0" * 32) == []
