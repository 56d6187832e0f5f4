"""`InsightStore.replace_hour`: a backfill of an hour replaces that hour's contributions, on both
stores, idempotently, and leaves every other hour alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from loginsight.batch_keys import archive_batch_key, replaced_hour, sensor_batch_key
from loginsight.store import InsightStore
from tests.test_store import T0, make_insight

H10, H11 = "2025-03-14T10", "2025-03-14T11"
RANGE_A = "logs.to.analyze@p0:0-100"
RANGE_B = "logs.to.analyze@p0:100-180"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
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


def _counts(store: InsightStore) -> dict[str, int]:
    return {stored.template: stored.count for stored in store.list_insights()}


def test_batch_key_conventions() -> None:
    assert sensor_batch_key(RANGE_A, H10) == f"{RANGE_A}#hour={H10}"
    assert archive_batch_key("run-1", H10) == f"archive@run-1#hour={H10}"
    assert replaced_hour(archive_batch_key("run-1", H10)) == H10
    assert replaced_hour(sensor_batch_key(RANGE_A, H10)) is None
    assert replaced_hour("archive@run-1#hour=10") is None
    with pytest.raises(ValueError, match="not an hour key"):
        sensor_batch_key(RANGE_A, "2025-03-14 10:00")


def test_backfill_replaces_the_sensor_batches_of_its_hour_only(store: InsightStore) -> None:
    # Two sensor batches saw hour 10 (4 + 3 lines), one saw hour 11 (5 lines).
    store.upsert(
        [
            make_insight(batch_key=sensor_batch_key(RANGE_A, H10), count=4),
            make_insight(batch_key=sensor_batch_key(RANGE_B, H10), count=3),
            make_insight(
                template="disk full on <*>",
                batch_key=sensor_batch_key(RANGE_B, H11),
                count=5,
                first_seen=T0 + timedelta(hours=1),
            ),
        ]
    )
    assert store.get_insight(make_insight().fingerprint).count == 7  # type: ignore[union-attr]

    # The archive says hour 10 held 9 such lines.
    backfill = archive_batch_key("run-1", H10)
    store.replace_hour(H10, [make_insight(batch_key=backfill, count=9)])
    store.replace_hour(H10, [make_insight(batch_key=backfill, count=9)])  # a replayed store

    stored = store.get_insight(make_insight().fingerprint)
    assert stored is not None and stored.count == 9 and stored.batches == 1
    assert store.batch_keys(stored.fingerprint) == [backfill]
    assert _counts(store)["disk full on <*>"] == 5  # hour 11 untouched


def test_a_later_backfill_replaces_an_earlier_one(store: InsightStore) -> None:
    first = archive_batch_key("run-1", H10)
    store.replace_hour(
        H10,
        [
            make_insight(batch_key=first, count=9),
            make_insight(template="old analysis <*>", batch_key=first, count=2),
        ],
    )
    # Re-analyzed after the analyzer changed: the old kind of insight is gone from the hour.
    second = archive_batch_key("run-2", H10)
    store.replace_hour(H10, [make_insight(batch_key=second, count=11)])

    assert _counts(store) == {make_insight().template: 11}


def test_one_backfill_stored_in_two_steps_keeps_both_parts(store: InsightStore) -> None:
    # The insights sensor may cut one backfill's insights into two batches of the topic.
    key = archive_batch_key("run-1", H10)
    store.upsert([make_insight(batch_key=sensor_batch_key(RANGE_A, H10), count=4)])
    store.replace_hour(H10, [make_insight(batch_key=key, count=9)])
    store.replace_hour(H10, [make_insight(template="disk full on <*>", batch_key=key, count=2)])

    assert _counts(store) == {make_insight().template: 9, "disk full on <*>": 2}


def test_an_empty_backfill_clears_the_hour(store: InsightStore) -> None:
    store.upsert([make_insight(batch_key=sensor_batch_key(RANGE_A, H10), count=4)])
    store.replace_hour(H10, [])
    assert store.list_insights() == []


def test_insights_of_another_hour_are_refused(store: InsightStore) -> None:
    store.upsert([make_insight(batch_key=sensor_batch_key(RANGE_A, H10), count=4)])
    with pytest.raises(ValueError, match="not batches of hour"):
        store.replace_hour(H10, [make_insight(batch_key=archive_batch_key("run-1", H11))])
    assert _counts(store) == {make_insight().template: 4}  # nothing changed
