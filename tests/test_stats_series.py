"""StatsWriter per-bucket series and per-rule counts against a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest_gateway.sinks.stats import StatsWriter
from loginsight.model import Level, LogRecord

NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def rec(at: datetime, service: str, matched: tuple[str, ...] = ()) -> LogRecord:
    level = Level.ERROR if matched else Level.INFO
    return LogRecord(
        event_time=at,
        source="http",
        service=service,
        level=level,
        message="m",
        matched_rules=matched,
    )


@pytest.fixture
def writer(tmp_path: Path) -> StatsWriter:
    filled = StatsWriter(tmp_path / "stats.duckdb")
    filled.add(
        [
            rec(NOON - timedelta(minutes=2), "api", ("level",)),
            rec(NOON - timedelta(minutes=2, seconds=-30), "api", ("level", "timeout")),
            rec(NOON - timedelta(minutes=1), "api"),
            rec(NOON, "db", ("level",)),
            rec(NOON - timedelta(hours=3), "db", ("level",)),  # outside a 1h window
        ]
    )
    return filled


def test_minute_series_places_counts_in_their_buckets(writer: StatsWriter) -> None:
    series = writer.series(timedelta(hours=1), "service", now=NOON + timedelta(seconds=20))
    assert series["step_s"] == 60
    assert series["buckets"] == 60
    assert series["start"] == "2024-03-01T11:01:00Z"
    assert series["rows"] == [
        {"bucket": 57, "service": "api", "count": 2, "errors": 2},
        {"bucket": 58, "service": "api", "count": 1, "errors": 0},
        {"bucket": 59, "service": "db", "count": 1, "errors": 1},
    ]


def test_long_windows_are_bucketed_coarser(writer: StatsWriter) -> None:
    series = writer.series(timedelta(days=1), "service", buckets=24, now=NOON)
    assert series["step_s"] == 3600
    assert series["buckets"] == 24
    totals = {(r["bucket"], r["service"]): r["count"] for r in series["rows"]}  # type: ignore[attr-defined]
    assert totals == {(20, "db"): 1, (23, "api"): 3, (23, "db"): 1}


def test_rule_counts_count_every_matched_rule(writer: StatsWriter) -> None:
    assert writer.query(timedelta(hours=1), "rule", now=NOON) == [
        {"rule": "level", "count": 3, "errors": 3},
        {"rule": "timeout", "count": 1, "errors": 1},
    ]
    series = writer.series(timedelta(minutes=5), "rule", now=NOON)
    assert series["rows"] == [
        {"bucket": 2, "rule": "level", "count": 2, "errors": 2},
        {"bucket": 2, "rule": "timeout", "count": 1, "errors": 1},
        {"bucket": 4, "rule": "level", "count": 1, "errors": 1},
    ]
