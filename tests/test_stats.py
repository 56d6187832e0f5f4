"""StatsWriter against a real DuckDB file: per-minute rollup, queries, windows, reopening."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from ingest_gateway.sinks.stats import StatsWriter, parse_window
from loginsight.model import Level, LogRecord

NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def rec(
    at: datetime,
    service: str = "checkout",
    level: Level = Level.INFO,
    source: str = "http",
    matched: tuple[str, ...] = (),
) -> LogRecord:
    return LogRecord(
        event_time=at,
        source=source,
        service=service,
        level=level,
        message="m",
        matched_rules=matched,
    )


def table_rows(path: Path) -> list[tuple[datetime, str, str, str, int, int]]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        rows = conn.execute(
            "SELECT minute, service, level, source, count, errors FROM stats_minute"
            " ORDER BY minute, service, level, source"
        ).fetchall()
    finally:
        conn.close()
    return [(m.astimezone(UTC), s, lv, src, c, e) for m, s, lv, src, c, e in rows]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stats" / "stats.duckdb"


def test_same_minute_merges_across_adds_and_minutes_stay_apart(db_path: Path) -> None:
    writer = StatsWriter(db_path)
    writer.add([rec(NOON + timedelta(seconds=1)), rec(NOON + timedelta(seconds=30))])
    writer.add([rec(NOON + timedelta(seconds=59, microseconds=999_999))])
    writer.add([rec(NOON + timedelta(minutes=1)), rec(NOON + timedelta(seconds=5))])
    writer.add([])  # nothing to count
    writer.close()

    assert db_path.exists()
    assert table_rows(db_path) == [
        (NOON, "checkout", "info", "http", 4, 0),
        (NOON + timedelta(minutes=1), "checkout", "info", "http", 1, 0),
    ]


def test_dimensions_split_rows_and_errors_come_from_matched_rules(db_path: Path) -> None:
    writer = StatsWriter(db_path)
    writer.add(
        [
            rec(NOON, "checkout", Level.INFO, "http"),
            rec(NOON, "checkout", Level.ERROR, "http", ("error_level",)),
            rec(NOON, "checkout", Level.ERROR, "http"),  # level error, but matched nothing
            rec(NOON, "checkout", Level.INFO, "grpc", ("error", "exception")),
            rec(NOON, "payments", Level.INFO, "http", ("panic",)),
        ]
    )
    writer.add([rec(NOON + timedelta(seconds=10), "checkout", Level.ERROR, "http", ("error",))])
    writer.close()

    assert table_rows(db_path) == [
        (NOON, "checkout", "error", "http", 3, 2),
        (NOON, "checkout", "info", "grpc", 1, 1),
        (NOON, "checkout", "info", "http", 1, 0),
        (NOON, "payments", "info", "http", 1, 1),
    ]


def test_minutes_are_utc(db_path: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    writer = StatsWriter(db_path)
    writer.add([rec(datetime(2024, 3, 1, 14, 0, 30, tzinfo=plus_two)), rec(NOON)])
    writer.close()
    assert table_rows(db_path) == [(NOON, "checkout", "info", "http", 2, 0)]


@pytest.fixture
def filled(db_path: Path) -> Iterator[StatsWriter]:
    writer = StatsWriter(db_path)
    writer.add(
        [
            rec(NOON, "checkout", Level.INFO, "http"),
            rec(NOON, "checkout", Level.INFO, "http"),
            rec(NOON, "checkout", Level.ERROR, "grpc", ("error_level",)),
            rec(NOON + timedelta(minutes=5), "payments", Level.ERROR, "http", ("error",)),
            rec(NOON + timedelta(minutes=5), "payments", Level.WARN, "grpc"),
            rec(NOON + timedelta(minutes=5), "search", Level.INFO, "grpc"),
        ]
    )
    yield writer
    writer.close()


def test_query_by_service(filled: StatsWriter) -> None:
    now = NOON + timedelta(minutes=10)
    assert filled.query(timedelta(hours=1), "service", now=now) == [
        {"service": "checkout", "count": 3, "errors": 1},
        {"service": "payments", "count": 2, "errors": 1},
        {"service": "search", "count": 1, "errors": 0},
    ]


def test_query_dimensions_and_order(filled: StatsWriter) -> None:
    now = NOON + timedelta(minutes=10)
    hour = timedelta(hours=1)
    # Largest count first, ties broken by value.
    assert filled.query(hour, "level", now=now) == [
        {"level": "info", "count": 3, "errors": 0},
        {"level": "error", "count": 2, "errors": 2},
        {"level": "warn", "count": 1, "errors": 0},
    ]
    assert filled.query(hour, "source", now=now) == [
        {"source": "grpc", "count": 3, "errors": 1},
        {"source": "http", "count": 3, "errors": 1},
    ]
    with pytest.raises(ValueError, match="by must be one of"):
        filled.query(hour, "host", now=now)  # type: ignore[arg-type]


def test_window_excludes_old_minutes(filled: StatsWriter) -> None:
    now = NOON + timedelta(minutes=10)
    # 7 minutes back reaches 12:03: only the 12:05 records count.
    assert filled.query(timedelta(minutes=7), "service", now=now) == [
        {"service": "payments", "count": 2, "errors": 1},
        {"service": "search", "count": 1, "errors": 0},
    ]
    # Exactly 10 minutes back includes the 12:00 minute.
    assert {r["service"] for r in filled.query(timedelta(minutes=10), "service", now=now)} == {
        "checkout",
        "payments",
        "search",
    }
    # Long after: nothing in the window.
    later = NOON + timedelta(days=2)
    assert filled.query(timedelta(hours=1), "service", now=later) == []
    assert len(filled.query(timedelta(days=3), "service", now=later)) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        (" 2h ", timedelta(hours=2)),
        ("366d", timedelta(days=366)),
    ],
)
def test_parse_window_accepts(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["1x", "0h", "400d", "", "h", "1.5h", "-1h", "1 h", "1H", "367d"])
def test_parse_window_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(text)


def test_stats_survive_reopen(db_path: Path) -> None:
    first = StatsWriter(db_path)
    first.add([rec(NOON, "checkout", Level.ERROR, "http", ("error",)), rec(NOON, "checkout")])
    first.close()

    second = StatsWriter(db_path)
    try:
        now = NOON + timedelta(minutes=1)
        assert second.query(timedelta(hours=1), "service", now=now) == [
            {"service": "checkout", "count": 2, "errors": 1}
        ]
        second.add([rec(NOON + timedelta(seconds=20), "checkout")])
        assert second.query(timedelta(hours=1), "service", now=now) == [
            {"service": "checkout", "count": 3, "errors": 1}
        ]
    finally:
        second.close()
    assert table_rows(db_path) == [
        (NOON, "checkout", "error", "http", 1, 1),
        (NOON, "checkout", "info", "http", 2, 0),
    ]
