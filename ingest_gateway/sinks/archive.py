"""The archive sink: every normalized record, durably, partitioned by event hour.

A batch is appended to the open segment of its hour (an Arrow IPC stream) and fsynced before the
request is acknowledged. A segment is rolled into a closed zstd Parquet file when it has been
open `roll_after_s` or passed `roll_bytes`; segments left open by a crash are rolled at start, the
complete batches in them kept. See `loginsight.archive` for the layout readers rely on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ingest_gateway.sinks.segments import read_complete_batches
from loginsight.archive import ARCHIVE_SCHEMA, hour_dir, hour_of
from loginsight.archive import records_from_table as records_from_table  # re-exported
from loginsight.model import LogRecord

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".arrows"


def records_to_table(records: Sequence[LogRecord]) -> pa.Table:
    columns = {
        "id": [r.id for r in records],
        "event_time": [r.event_time for r in records],
        "received_time": [r.received_time for r in records],
        "source": [r.source for r in records],
        "service": [r.service for r in records],
        "host": [r.host for r in records],
        "environment": [r.environment for r in records],
        "level": [r.level.value for r in records],
        "severity_number": [r.severity_number for r in records],
        "message": [r.message for r in records],
        "attributes": [list(r.attributes.items()) for r in records],
        "trace_id": [r.trace_id for r in records],
        "span_id": [r.span_id for r in records],
        "matched_rules": [list(r.matched_rules) for r in records],
    }
    return pa.table(columns, schema=ARCHIVE_SCHEMA)


@dataclass
class _Segment:
    path: Path
    opened_at: float
    sink: pa.OSFile
    writer: ipc.RecordBatchStreamWriter

    def append(self, table: pa.Table) -> None:
        self.writer.write_table(table)
        self.sink.flush()
        os.fsync(self.sink.fileno())

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def roll_segment(path: Path) -> Path | None:
    """Turn a segment into a closed Parquet file beside it, keeping every complete batch."""
    batches = read_complete_batches(path)
    if batches:
        target = path.with_suffix(".parquet")
        partial = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.Table.from_batches(batches, ARCHIVE_SCHEMA), partial, compression="zstd")
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        partial.replace(target)
    path.unlink(missing_ok=True)
    return path.with_suffix(".parquet") if batches else None


class ArchiveWriter:
    def __init__(self, root: Path, roll_after_s: float = 60.0, roll_bytes: int = 64 << 20) -> None:
        self.root = root
        self.roll_after_s = roll_after_s
        self.roll_bytes = roll_bytes
        self._open: dict[datetime, _Segment] = {}
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        for leftover in sorted(root.glob(f"hour=*/part-*{SEGMENT_SUFFIX}")):
            roll_segment(leftover)

    def append(self, records: Sequence[LogRecord]) -> None:
        """Append records durably (fsynced) to the open segment of each one's event hour."""
        if not records:
            return
        by_hour: dict[datetime, list[LogRecord]] = defaultdict(list)
        for record in records:
            by_hour[hour_of(record.event_time)].append(record)
        with self._lock:
            for hour, members in by_hour.items():
                self._segment(hour).append(records_to_table(members))
            full = self._detach(time.monotonic(), by_age=False)
        _roll(full)

    def append_table(self, table: pa.Table) -> None:
        """Append an archive-schema table durably (fsynced), split by event hour in Arrow."""
        if table.num_rows == 0:
            return
        table = table.select(ARCHIVE_SCHEMA.names).cast(ARCHIVE_SCHEMA)
        hours = pc.floor_temporal(table["event_time"], unit="hour")
        distinct = pc.unique(hours).to_pylist()
        with self._lock:
            for hour in distinct:
                members = table if len(distinct) == 1 else table.filter(pc.equal(hours, hour))
                self._segment(hour_of(hour)).append(members)
            full = self._detach(time.monotonic(), by_age=False)
        _roll(full)

    def _segment(self, hour: datetime) -> _Segment:
        segment = self._open.get(hour)
        if segment is None:
            directory = hour_dir(self.root, hour)
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"part-{uuid.uuid4().hex}{SEGMENT_SUFFIX}"
            sink = pa.OSFile(str(path), "wb")
            segment = _Segment(path, time.monotonic(), sink, ipc.new_stream(sink, ARCHIVE_SCHEMA))
            self._open[hour] = segment
        return segment

    def _detach(self, now: float, by_age: bool) -> list[_Segment]:
        """Close the writers of segments past the size bound (and the age bound, `by_age`) and
        take them out of the open set. They are rolled into Parquet by the caller outside the
        lock: a roll takes seconds for a big segment, and appends must not wait for it."""
        due = []
        for hour, segment in list(self._open.items()):
            old = by_age and now - segment.opened_at >= self.roll_after_s
            if old or segment.size >= self.roll_bytes:
                del self._open[hour]
                segment.writer.close()
                segment.sink.close()
                due.append(segment)
        return due

    def roll_due(self) -> None:
        """Roll segments that are old or large enough; called periodically (also when idle), so
        a request never waits for an age roll."""
        with self._lock:
            due = self._detach(time.monotonic(), by_age=True)
        _roll(due)

    def close(self) -> None:
        """Roll every open segment."""
        with self._lock:
            due = self._detach(float("inf"), by_age=True)
        _roll(due)


def _roll(segments: list[_Segment]) -> None:
    for segment in segments:
        roll_segment(segment.path)
