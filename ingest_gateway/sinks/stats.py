"""Per-minute hot stats in DuckDB: records and filter matches by service x level x source, and
matches per rule.

The gateway is the only process that opens this file. A batch arrives as an Arrow table and is
counted by DuckDB itself in one upsert per rollup (`add_table`), never row by row. Minute rows
are kept for `minute_retention`, then `compact` folds them into hourly rows, kept for
`hour_retention`; readers see both through the `*_rollup` views.
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
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest_gateway.group_commit import GroupCommit
from ingest_gateway.sinks.stats_journal import JOURNAL_SCHEMA, StatsJournal, read_segment
from loginsight.model import LogRecord

StatsDimension = Literal["service", "level", "source", "rule"]
DIMENSIONS: tuple[StatsDimension, ...] = ("service", "level", "source", "rule")
# Series longer than this many points are bucketed coarser than a minute.
MAX_SERIES_BUCKETS = 1_440

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


# Filter matches per rule, for `by=rule`: a record matching two rules counts once in each.
_RULE_SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_minute (
    minute TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, service, rule)
)
"""

_RULE_MERGE = """
INSERT INTO rule_minute SELECT minute, service, rule, count FROM batch_rules
ON CONFLICT (minute, service, rule) DO UPDATE SET count = rule_minute.count + excluded.count
"""


# Downsampled rows (one per hour, `minute` is the hour's start) and the views readers query:
# the minute rows and the hour rows never overlap, a minute row being moved in one transaction.
_HOUR_SCHEMA = """
CREATE TABLE IF NOT EXISTS stats_hour (
    minute TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    PRIMARY KEY (minute, service, level, source)
);
CREATE TABLE IF NOT EXISTS rule_hour (
    minute TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, service, rule)
);
CREATE TABLE IF NOT EXISTS stats_journal (folded_through BIGINT NOT NULL);
CREATE OR REPLACE VIEW stats_rollup AS
    SELECT * FROM stats_minute UNION ALL SELECT * FROM stats_hour;
CREATE OR REPLACE VIEW rule_rollup AS
    SELECT * FROM rule_minute UNION ALL SELECT * FROM rule_hour;
"""

# Folding journal deltas (JOURNAL_SCHEMA, registered as `journal_rows`) into the minute tables.
_FOLD = (
    """INSERT INTO stats_minute
    SELECT minute, service, level, source, SUM(count), SUM(errors) FROM journal_rows
    WHERE rule IS NULL GROUP BY ALL
    ON CONFLICT (minute, service, level, source) DO UPDATE SET
        count = stats_minute.count + excluded.count,
        errors = stats_minute.errors + excluded.errors""",
    """INSERT INTO rule_minute
    SELECT minute, service, rule, SUM(count) FROM journal_rows
    WHERE rule IS NOT NULL GROUP BY ALL
    ON CONFLICT (minute, service, rule) DO UPDATE SET count = rule_minute.count + excluded.count""",
)

_COUNT_KEYS = ["minute", "service", "level", "source"]
_RULE_KEYS = ["minute", "service", "rule"]


def minute_counts(table: pa.Table) -> pa.Table:
    """A batch (archive schema) counted per minute in Arrow, as journal rows: service x level x
    source with count and errors, and service x rule with count."""
    minute = pc.floor_temporal(table["event_time"], unit="minute")
    matched = table["matched_rules"]
    lengths = pc.list_value_length(matched)
    rows = pa.table(
        {
            "minute": minute,
            "service": table["service"],
            "level": table["level"],
            "source": table["source"],
            "count": pa.array(np.ones(table.num_rows, dtype=np.int64)),
            "errors": pc.cast(pc.greater(lengths, 0), pa.int64()),
        }
    )
    flat = (
        pa.chunked_array(matched).combine_chunks()
        if isinstance(matched, pa.ChunkedArray)
        else matched
    )
    parents = pc.list_parent_indices(flat)
    rules = pa.table(
        {
            "minute": pc.take(minute, parents),
            "service": pc.take(table["service"], parents),
            "rule": pc.list_flatten(flat),
            "count": pa.array(np.ones(len(parents), dtype=np.int64)),
        }
    )
    return journal_rows(_summed(rows, _COUNT_KEYS), _summed(rules, _RULE_KEYS))


def journal_rows(counts: pa.Table, rules: pa.Table) -> pa.Table:
    """Both rollups' rows in one JOURNAL_SCHEMA table (rule rows: level and source null)."""
    none = pa.nulls(rules.num_rows, pa.string())
    return pa.concat_tables(
        [
            counts.append_column("rule", pa.nulls(counts.num_rows, pa.string()))
            .select(JOURNAL_SCHEMA.names)
            .cast(JOURNAL_SCHEMA),
            pa.table(
                {
                    "minute": rules["minute"],
                    "service": rules["service"],
                    "level": none,
                    "source": none,
                    "rule": rules["rule"],
                    "count": rules["count"],
                    "errors": pa.array(np.zeros(rules.num_rows, dtype=np.int64)),
                }
            ).cast(JOURNAL_SCHEMA),
        ]
    )


def _summed(table: pa.Table, keys: list[str]) -> pa.Table:
    measures = [name for name in table.column_names if name not in keys]
    grouped = table.group_by(keys, use_threads=False).aggregate(
        [(name, "sum") for name in measures]
    )
    columns = {key: grouped[key] for key in keys}
    columns.update({name: grouped[f"{name}_sum"] for name in measures})
    return pa.table(columns)


# Each statement in order, in one transaction; `$cutoff` and `$expiry` are bound per call.
_DOWNSAMPLE = (
    """INSERT INTO stats_hour
    SELECT date_trunc('hour', minute), service, level, source, SUM(count), SUM(errors)
    FROM stats_minute WHERE minute < $cutoff GROUP BY ALL
    ON CONFLICT (minute, service, level, source) DO UPDATE SET
        count = stats_hour.count + excluded.count,
        errors = stats_hour.errors + excluded.errors""",
    "DELETE FROM stats_minute WHERE minute < $cutoff",
    """INSERT INTO rule_hour
    SELECT date_trunc('hour', minute), service, rule, SUM(count)
    FROM rule_minute WHERE minute < $cutoff GROUP BY ALL
    ON CONFLICT (minute, service, rule) DO UPDATE SET count = rule_hour.count + excluded.count""",
    "DELETE FROM rule_minute WHERE minute < $cutoff",
    "DELETE FROM stats_hour WHERE minute < $expiry",
    "DELETE FROM rule_hour WHERE minute < $expiry",
)

DEFAULT_MINUTE_RETENTION = timedelta(hours=48)
DEFAULT_HOUR_RETENTION = timedelta(days=400)


def _source_of(by: StatsDimension) -> tuple[str, str]:
    """(view, errors expression) that `by` is read from; rule counts are all matches."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    return ("rule_rollup", "count") if by == "rule" else ("stats_rollup", "errors")


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


def _rule_counts(records: Sequence[LogRecord]) -> pa.Table:
    counts: Counter[tuple[datetime, str, str]] = Counter(
        (_minute(record.event_time), record.service, rule)
        for record in records
        for rule in record.matched_rules
    )
    keys = list(counts)
    return pa.table(
        {
            "minute": pa.array([k[0] for k in keys], pa.timestamp("us", tz="UTC")),
            "service": pa.array([k[1] for k in keys], pa.string()),
            "rule": pa.array([k[2] for k in keys], pa.string()),
            "count": pa.array([counts[k] for k in keys], pa.int64()),
        }
    )


class StatsWriter:
    def __init__(
        self,
        path: Path,
        minute_retention: timedelta = DEFAULT_MINUTE_RETENTION,
        hour_retention: timedelta = DEFAULT_HOUR_RETENTION,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.minute_retention = minute_retention
        self.hour_retention = hour_retention
        self._conn = duckdb.connect(str(path))
        self._conn.execute("SET TimeZone = 'UTC'")
        self._conn.execute(_SCHEMA)
        self._conn.execute(_RULE_SCHEMA)
        self._conn.execute(_HOUR_SCHEMA)
        self._lock = threading.Lock()
        self._journal = StatsJournal(path.parent / f"{path.name}.journal")
        self._journal_lock = threading.Lock()  # appends vs the swap in fold
        self._fold_lock = threading.Lock()  # folds commit in journal order, one at a time
        self._pending: list[pa.Table] = []
        self._commits: GroupCommit[pa.Table] = GroupCommit(self._journal_append)
        self._replay()

    def add_table(self, table: pa.Table) -> None:
        """Count a batch given as an archive-schema table (a record with matched rules is also
        an error, and counts once per rule it matched) into its minutes. Returns once the counts
        are durable in the journal (concurrent batches share one fsync); `fold` moves them into
        DuckDB, and every read folds first."""
        if table.num_rows == 0:
            return
        self._commits.submit(minute_counts(table))

    def _journal_append(self, batches: Sequence[pa.Table]) -> None:
        rows = pa.concat_tables(batches)
        with self._journal_lock:
            self._journal.append(rows)
            self._pending.append(rows)

    def _replay(self) -> None:
        """Fold journal segments a crash left unfolded (those past the recorded mark)."""
        ((mark,),) = self._conn.execute("SELECT max(folded_through) FROM stats_journal").fetchall()
        folded = int(mark) if mark is not None else 0
        segments = [(seq, path) for seq, path in self._journal.segments() if seq > folded]
        if segments:
            rows = pa.concat_tables([read_segment(path) for _, path in segments])
            self._fold_rows(rows, segments[-1][0])
        self._journal.remove_through(max(folded, segments[-1][0] if segments else 0))

    def fold(self) -> None:
        """Move every journaled delta into DuckDB in one transaction."""
        with self._fold_lock:
            self._fold_pending()

    def _fold_pending(self) -> None:
        with self._journal_lock:
            pending, self._pending = self._pending, []
            through = self._journal.rotate()
        if not pending:
            self._journal.remove_through(through)
            return
        try:
            self._fold_rows(pa.concat_tables(pending), through)
        except BaseException:
            with self._journal_lock:  # still journaled: retried by the next fold, or at start
                self._pending[:0] = pending
            raise
        self._journal.remove_through(through)

    def _fold_rows(self, rows: pa.Table, through: int) -> None:
        with self._lock:
            self._conn.register("journal_rows", rows)
            try:
                self._conn.execute("BEGIN TRANSACTION")
                for statement in _FOLD:
                    self._conn.execute(statement)
                self._conn.execute("DELETE FROM stats_journal")
                self._conn.execute("INSERT INTO stats_journal VALUES (?)", [through])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._conn.unregister("journal_rows")

    def compact(self, now: datetime | None = None) -> None:
        """Fold the journal into the minute rows, minute rows older than the minute retention
        (whole hours) into hourly rows, and drop hourly rows older than the hour retention.
        Idempotent; run it every few seconds (the journal grows until it runs)."""
        self.fold()
        moment = now or datetime.now(UTC)
        cutoff = (moment - self.minute_retention).astimezone(UTC)
        cutoff = cutoff.replace(minute=0, second=0, microsecond=0)
        expiry = (moment - self.hour_retention).astimezone(UTC)
        with self._lock:
            self._conn.execute("BEGIN TRANSACTION")
            try:
                for statement in _DOWNSAMPLE:
                    bound = {"cutoff": cutoff, "expiry": expiry}
                    self._conn.execute(
                        statement, {k: v for k, v in bound.items() if f"${k}" in statement}
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

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
        rules = _rule_counts(records)
        with self._lock:
            self._conn.register("batch_counts", batch)
            self._conn.register("batch_rules", rules)
            try:
                self._conn.execute(_MERGE)
                if rules.num_rows:
                    self._conn.execute(_RULE_MERGE)
            finally:
                self._conn.unregister("batch_counts")
                self._conn.unregister("batch_rules")

    def query(
        self, window: timedelta, by: StatsDimension, now: datetime | None = None
    ) -> list[dict[str, object]]:
        """Totals per value of `by` over event minutes within `window` of now, largest first."""
        table, errors_of = _source_of(by)
        self.fold()
        since = _minute((now or datetime.now(UTC)) - window)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {by}, SUM(count)::BIGINT, SUM({errors_of})::BIGINT FROM {table}"
                f" WHERE minute >= ? GROUP BY {by} ORDER BY 2 DESC, 1",
                [since],
            ).fetchall()
        return [{by: value, "count": count, "errors": errors} for value, count, errors in rows]

    def series(
        self,
        window: timedelta,
        by: StatsDimension,
        buckets: int = 60,
        now: datetime | None = None,
    ) -> dict[str, object]:
        """Counts per value of `by` per time bucket over `window`: minute buckets unless the
        window holds more than `buckets` minutes. Only non-empty buckets are listed; `start` and
        `step_s` let a reader lay them on a full axis."""
        table, errors_of = _source_of(by)
        self.fold()
        buckets = max(1, min(buckets, MAX_SERIES_BUCKETS))
        minutes = max(1, -(-int(window.total_seconds()) // 60))
        step_s = 60 * max(1, -(-minutes // buckets))
        end = _minute(now or datetime.now(UTC)) + timedelta(minutes=1)
        start = end - timedelta(seconds=step_s * max(1, -(-minutes * 60 // step_s)))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT (epoch(minute)::BIGINT - ?) // ? AS bucket, {by},"
                f" SUM(count)::BIGINT, SUM({errors_of})::BIGINT FROM {table}"
                f" WHERE minute >= ? AND minute < ? GROUP BY bucket, {by} ORDER BY bucket, {by}",
                [int(start.timestamp()), step_s, start, end],
            ).fetchall()
        return {
            "start": start.isoformat().replace("+00:00", "Z"),
            "step_s": step_s,
            "buckets": (end - start) // timedelta(seconds=step_s),
            "rows": [
                {"bucket": int(bucket), by: value, "count": count, "errors": errors}
                for bucket, value, count, errors in rows
            ],
        }

    def close(self) -> None:
        self.fold()
        with self._lock:
            self._conn.close()
