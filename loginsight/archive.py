"""The record archive's layout, shared by its writer (the gateway) and its readers (Dagster).

Every normalized record is archived, partitioned by event hour:

    <data_dir>/archive/hour=2026-03-02T10/part-<id>.parquet     closed, zstd, immutable
    <data_dir>/archive/hour=2026-03-02T10/part-<id>.arrows      open segment (Arrow IPC stream)

Readers only ever see closed Parquet files, so a backfill never touches a file being written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loginsight.model import LogRecord

HOUR_FORMAT = "%Y-%m-%dT%H"

ARCHIVE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("received_time", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("service", pa.string()),
        ("host", pa.string()),
        ("environment", pa.string()),
        ("level", pa.string()),
        ("severity_number", pa.int32()),
        ("message", pa.string()),
        ("attributes", pa.map_(pa.string(), pa.string())),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("matched_rules", pa.list_(pa.string())),
    ]
)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_dir(root: Path, hour: datetime) -> Path:
    return root / f"hour={hour_of(hour).strftime(HOUR_FORMAT)}"


def closed_files(root: Path, start: datetime, end: datetime) -> list[Path]:
    """Closed Parquet files of the hours in [start, end)."""
    files: list[Path] = []
    hour = hour_of(start)
    while hour < end:
        directory = hour_dir(root, hour)
        if directory.is_dir():
            files.extend(sorted(directory.glob("part-*.parquet")))
        hour += timedelta(hours=1)
    return files


def read_hours(root: Path, start: datetime, end: datetime) -> pa.Table:
    """Every archived record with an event hour in [start, end), as one Arrow table."""
    files = closed_files(root, start, end)
    if not files:
        return ARCHIVE_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=ARCHIVE_SCHEMA) for f in files])


def records_from_table(table: pa.Table) -> list[LogRecord]:
    """The rows of an archive-schema table as LogRecords (the inverse of the writer's
    `records_to_table`)."""
    out = []
    for row in table.to_pylist():
        row["event_time"] = row["event_time"].astimezone(UTC)
        row["received_time"] = row["received_time"].astimezone(UTC)
        row["attributes"] = dict(row["attributes"] or ())
        row["matched_rules"] = tuple(row["matched_rules"] or ())
        out.append(LogRecord.model_validate(row))
    return out


def read_matched_hour(root: Path, hour: datetime) -> list[LogRecord]:
    """The records of one event hour that matched a filter rule: what the gateway published to
    topic logs.to.analyze for that hour, as far as the archive's closed files hold it."""
    start = hour_of(hour)
    table = read_hours(root, start, start + timedelta(hours=1))
    matched = table.filter(pc.greater(pc.list_value_length(table["matched_rules"]), 0))
    return records_from_table(matched)
