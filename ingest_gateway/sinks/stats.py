"""Per-minute hot stats in DuckDB: records and filter matches by service x level x source.

The gateway is the only process that opens this file. A batch is counted in memory, then
merged into the table through one Arrow-backed upsert, never row by row.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from loginsight.model import LogRecord

StatsDimension = Literal["service", "level", "source"]
DIMENSIONS: tuple[StatsDimension, ...] = ("service", "level", "source")

_WINDOW = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW = timedelta(days=366)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stats_minute (
    minute TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    PRIMARY KEY (minute, service, level, source)
)
"""

_MERGE = """
INSERT INTO stats_minute
SELECT minute, service, level, source, count, errors FROM batch_counts
ON CONFLICT (minute, service, level, source) DO UPDATE SET
    count = stats_minute.count + excluded.count,
    errors = stats_minute.errors + excluded.errors
"""


def parse_window(text: str) -> timedelta:
    """`30s`, `15m`, `1h`, `7d` -> timedelta; refuses anything else and windows over a year."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"window {text!r} must look like 30s, 15m, 1h or 7d")
    window = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise ValueError(f"window {text!r} must be positive and at most 366d")
    return window


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class StatsWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = duckdb.connect(str(path))
        self._conn.execute("SET TimeZone = 'UTC'")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, records: Sequence[LogRecord]) -> None:
        """Count a batch of records (matched ones also as errors) into their minutes."""
        if not records:
            return
        counts: Counter[tuple[datetime, str, str, str]] = Counter()
        errors: Counter[tuple[datetime, str, str, str]] = Counter()
        for record in records:
            key = (_minute(record.event_time), record.service, record.level.value, record.source)
            counts[key] += 1
            if record.matched_rules:
                errors[key] += 1
        keys = list(counts)
        batch = pa.table(
            {
                "minute": pa.array([k[0] for k in keys], pa.timestamp("us", tz="UTC")),
                "service": [k[1] for k in keys],
                "level": [k[2] for k in keys],
                "source": [k[3] for k in keys],
                "count": pa.array([counts[k] for k in keys], pa.int64()),
                "errors": pa.array([errors[k] for k in keys], pa.int64()),
            }
        )
        with self._lock:
            self._conn.register("batch_counts", batch)
            try:
                self._conn.execute(_MERGE)
            finally:
                self._conn.unregister("batch_counts")

    def query(
        self, window: timedelta, by: StatsDimension, now: datetime | None = None
    ) -> list[dict[str, object]]:
        """Totals per value of `by` over event minutes within `window` of now, largest first."""
        if by not in DIMENSIONS:
            raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
        since = _minute((now or datetime.now(UTC)) - window)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {by}, SUM(count)::BIGINT, SUM(errors)::BIGINT FROM stats_minute"
                f" WHERE minute >= ? GROUP BY {by} ORDER BY 2 DESC, 1",
                [since],
            ).fetchall()
        return [{by: value, "count": count, "errors": errors} for value, count, errors in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
