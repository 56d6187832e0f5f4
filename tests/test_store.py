"""Both insight stores, the embedded SQLite one and Postgres, behave the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loginsight.insight import Insight, fingerprint_of
from loginsight.store import InsightStore

T0 = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


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


def make_insight(
    *,
    service: str = "checkout",
    template: str = "payment provider timeout after <*> ms",
    batch_key: str = "logs.to.analyze:0:0-100",
    count: int = 3,
    first_seen: datetime = T0,
    last_seen: datetime | None = None,
    **overrides: Any,
) -> Insight:
    fields: dict[str, Any] = {
        "fingerprint": fingerprint_of(service, template),
        "batch_key": batch_key,
        "service": service,
        "template": template,
        "title": "Payment provider timeouts",
        "summary": "The payment provider stopped answering within the client timeout.",
        "level": "error",
        "count": count,
        "first_seen": first_seen,
        "last_seen": last_seen or first_seen + timedelta(seconds=42),
        "sample_lines": ["payment provider timeout after 3000 ms"],
        "analyzer": "local",
    }
    fields.update(overrides)
    return Insight(**fields)


def test_upsert_then_list(store: InsightStore) -> None:
    insight = make_insight()
    store.upsert([insight])

    [stored] = store.list_insights()
    assert stored.fingerprint == insight.fingerprint
    assert stored.service == "checkout"
    assert stored.template == insight.template
    assert stored.title == insight.title
    assert stored.summary == insight.summary
    assert stored.level == "error"
    assert stored.analyzer == "local"
    assert stored.sample_lines == insight.sample_lines
    assert stored.count == 3
    assert stored.batches == 1
    assert stored.first_seen == insight.first_seen  # exact to the microsecond
    assert stored.last_seen == insight.last_seen
    assert stored.first_seen.tzinfo is not None


def test_empty_store_lists_nothing(store: InsightStore) -> None:
    assert store.list_insights() == []
    store.upsert([])
    assert store.list_insights() == []


def test_the_same_batch_twice_is_stored_once(store: InsightStore) -> None:
    insight = make_insight(count=7)
    store.upsert([insight])
    store.upsert([insight])  # e.g. a retried run of the same batch

    [stored] = store.list_insights()
    assert stored.count == 7
    assert stored.batches == 1


def test_batches_of_one_fingerprint_add_up(store: InsightStore) -> None:
    early = make_insight(
        batch_key="b1", count=4, first_seen=T0, last_seen=T0 + timedelta(minutes=5)
    )
    late = make_insight(
        batch_key="b2",
        count=6,
        first_seen=T0 + timedelta(minutes=3),
        last_seen=T0 + timedelta(hours=2),
    )
    store.upsert([late])
    store.upsert([early])
    store.upsert([late])  # re-storing one batch does not count it twice

    [stored] = store.list_insights()
    assert stored.count == 10
    assert stored.batches == 2
    assert stored.first_seen == T0
    assert stored.last_seen == T0 + timedelta(hours=2)


def test_newer_analysis_replaces_the_text(store: InsightStore) -> None:
    store.upsert([make_insight(batch_key="b1", title="old title", summary="old summary")])
    store.upsert(
        [
            make_insight(
                batch_key="b2",
                title="Payment provider outage",
                summary="All calls to the provider time out since 09:26.",
                level="fatal",
                analyzer="openai",
                sample_lines=["newer sample"],
            )
        ]
    )

    [stored] = store.list_insights()
    assert stored.title == "Payment provider outage"
    assert stored.summary == "All calls to the provider time out since 09:26."
    assert stored.level == "fatal"
    assert stored.analyzer == "openai"
    assert stored.sample_lines == ["newer sample"]
    assert stored.count == 6
    assert stored.batches == 2


def test_sample_lines_round_trip_unicode(store: InsightStore) -> None:
    lines = [
        "Zahlung fehlgeschlagen: Ümlaut ß ✓",
        "日本語のログ行 — em dash, “quotes” and 'single'",
        'emoji 🚀🔥 and escapes \\n \\" \t tab',
        "a real\nnewline",
        "",
    ]
    store.upsert([make_insight(sample_lines=lines, title="Ünïcødé ✓ 障害")])

    [stored] = store.list_insights()
    assert stored.sample_lines == lines
    assert stored.title == "Ünïcødé ✓ 障害"


def test_insights_are_listed_most_recently_seen_first(store: InsightStore) -> None:
    old = make_insight(service="auth", template="token expired", first_seen=T0)
    new = make_insight(
        service="search", template="index <*> unavailable", first_seen=T0 + timedelta(days=1)
    )
    middle = make_insight(
        service="cart", template="cart locked", first_seen=T0 + timedelta(hours=1)
    )
    store.upsert([old, new, middle])

    assert [s.service for s in store.list_insights()] == ["search", "cart", "auth"]
    assert [s.service for s in store.list_insights(limit=2)] == ["search", "cart"]


def test_batch_keys_name_the_batches_that_saw_an_insight_latest_first(
    store: InsightStore,
) -> None:
    early = make_insight(batch_key="logs.to.analyze@p0:0-10", last_seen=T0)
    late = make_insight(batch_key="logs.to.analyze@p0:10-20", last_seen=T0 + timedelta(hours=1))
    store.upsert([early, late, make_insight(service="other", batch_key="elsewhere")])
    fingerprint = early.fingerprint
    assert store.batch_keys(fingerprint) == ["logs.to.analyze@p0:10-20", "logs.to.analyze@p0:0-10"]
    assert store.batch_keys(fingerprint, limit=1) == ["logs.to.analyze@p0:10-20"]
    assert store.batch_keys("no-such-fingerprint") == []


def test_root_cause_fields_round_trip_and_occurrences_add_up(store: InsightStore) -> None:
    from loginsight.insight import EvidenceLine

    analysed = {
        "kind": "incident",
        "root_cause_service": "payments-db",
        "root_cause_template": "FATAL: too many connections for role <*>",
        "root_cause_example": "FATAL: too many connections for role app ✓",
        "confidence": 0.83,
        "evidence": [
            EvidenceLine(ts=T0, service="payments-db", line="FATAL: too many connections"),
            EvidenceLine(ts=T0 + timedelta(seconds=4), service="checkout", line="timeout\nnext"),
        ],
        "blast_radius": {"payments-db": 20, "checkout": 7},
        "next_steps": ["Compare active connections with max_connections.", "Add a pooler."],
    }
    store.upsert([make_insight(batch_key="b1", count=27, occurrences=2, **analysed)])
    store.upsert([make_insight(batch_key="b2", count=5, occurrences=1, **analysed)])

    [stored] = store.list_insights()
    for field, value in analysed.items():
        assert getattr(stored, field) == value, field
    assert stored.occurrences == 3 and stored.batches == 2 and stored.count == 32


def test_an_insight_without_root_cause_fields_reads_with_defaults(store: InsightStore) -> None:
    store.upsert([make_insight()])

    [stored] = store.list_insights()
    assert stored.kind == "incident" and stored.root_cause_service is None
    assert (stored.evidence, stored.blast_radius, stored.next_steps) == ([], {}, [])
    assert stored.occurrences == 1
