"""The record archive: durable segments, rolled into zstd Parquet by hour, recovered after a
crash, and read back by hour range the way Dagster backfills read it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from ingest_gateway.sinks.archive import ArchiveWriter
from loginsight.archive import closed_files, read_hours
from loginsight.model import Level, LogRecord
from tests.support import make_settings, running_gateway

T0 = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)


def _record(moment: datetime, message: str, **extra: object) -> LogRecord:
    return LogRecord(event_time=moment, source="http", service="api", message=message, **extra)


def test_records_land_in_the_parquet_file_of_their_event_hour(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path, roll_after_s=3600)
    writer.append(
        [
            _record(T0, "a", level=Level.ERROR, matched_rules=("error_level",)),
            _record(T0 + timedelta(minutes=40), "b", attributes={"k": "v"}),
            _record(T0 - timedelta(hours=3), "old"),
        ]
    )
    assert closed_files(tmp_path, T0 - timedelta(hours=5), T0 + timedelta(hours=5)) == []
    writer.close()

    ten = read_hours(tmp_path, T0.replace(minute=0), T0.replace(minute=0) + timedelta(hours=1))
    assert sorted(ten.column("message").to_pylist()) == ["a", "b"]
    rows = {row["message"]: row for row in ten.to_pylist()}
    assert rows["a"]["matched_rules"] == ["error_level"] and rows["a"]["level"] == "error"
    assert rows["b"]["attributes"] == [("k", "v")]
    seven = read_hours(tmp_path, T0 - timedelta(hours=3), T0 - timedelta(hours=2))
    assert seven.column("message").to_pylist() == ["old"]
    (parquet,) = closed_files(tmp_path, T0.replace(minute=0), T0 + timedelta(hours=1))
    assert pq.ParquetFile(parquet).metadata.row_group(0).column(0).compression == "ZSTD"


def test_segments_roll_by_size_and_by_age(tmp_path: Path) -> None:
    by_size = ArchiveWriter(tmp_path / "size", roll_after_s=3600, roll_bytes=1)
    by_size.append([_record(T0, "x")])
    by_size.append([_record(T0, "y")])
    assert len(closed_files(tmp_path / "size", T0, T0 + timedelta(hours=1))) == 2

    by_age = ArchiveWriter(tmp_path / "age", roll_after_s=0)
    by_age.append([_record(T0, "z")])
    by_age.roll_due()
    assert read_hours(tmp_path / "age", T0, T0 + timedelta(hours=1)).num_rows == 1


def test_a_crashed_segment_keeps_its_complete_batches(tmp_path: Path) -> None:
    crashed = ArchiveWriter(tmp_path, roll_after_s=3600)
    crashed.append([_record(T0, "first")])
    crashed.append([_record(T0, "second")])
    (segment,) = tmp_path.rglob("*.arrows")
    with segment.open("ab") as handle:  # a torn write at the moment of the crash
        handle.write(b"\xff\xff\xff\xff\x10\x00\x00\x00garbage")
    # No close(): the process died. The next writer recovers on start.
    ArchiveWriter(tmp_path)
    assert list(tmp_path.rglob("*.arrows")) == []
    table = read_hours(tmp_path, T0, T0 + timedelta(hours=1))
    assert sorted(table.column("message").to_pylist()) == ["first", "second"]


def test_gateway_archives_every_accepted_record(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    lines = [{"service": "api", "ts": "2026-03-02T10:15:00Z", "message": f"m{n}"} for n in range(5)]
    with running_gateway(settings) as gateway:
        reply = httpx.post(
            f"{gateway.url}/v1/ingest",
            content="\n".join(json.dumps(line) for line in lines),
            headers={"content-type": "application/x-ndjson"},
        )
        assert reply.status_code == 200
        refused = httpx.post(
            f"{gateway.url}/v1/ingest",
            content='{"service": "api", "message": "never"}\n{bad',
            headers={"content-type": "application/x-ndjson"},
        )
        assert refused.status_code == 400
    table = read_hours(settings.archive_dir, T0.replace(minute=0), T0 + timedelta(hours=1))
    assert sorted(table.column("message").to_pylist()) == [f"m{n}" for n in range(5)]
    assert len(set(table.column("id").to_pylist())) == 5
