"""The stats journal: per-minute count deltas made durable before a request is acknowledged, and
folded into DuckDB later, many batches per commit.

A DuckDB commit costs milliseconds of CPU whatever its size, too much for every request; an
fsynced append to an Arrow IPC stream costs a fraction of that. So the hot path appends each
batch's deltas here, and `StatsWriter.fold` upserts everything pending in one DuckDB transaction
that also records the last journal segment it holds (`stats_journal.folded_through`). At start,
segments past that mark are replayed, so a crash loses no acknowledged count and counts none
twice. Segments are numbered; a torn tail keeps its complete batches (as archive segments do).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from ingest_gateway.sinks.segments import read_complete_batches

log = logging.getLogger(__name__)

# One row per (minute, service, level, source) with count and errors, or per (minute, service,
# rule) with count (level and source null): both rollups in one stream.
JOURNAL_SCHEMA = pa.schema(
    [
        ("minute", pa.timestamp("us", tz="UTC")),
        ("service", pa.string()),
        ("level", pa.string()),
        ("source", pa.string()),
        ("rule", pa.string()),
        ("count", pa.int64()),
        ("errors", pa.int64()),
    ]
)
_SEGMENT = re.compile(r"^seg-(\d{12})\.arrows$")


def read_segment(path: Path) -> pa.Table:
    """Every complete batch of a segment; a batch torn by a crash was never acknowledged."""
    batches = read_complete_batches(path)
    return pa.Table.from_batches(batches, JOURNAL_SCHEMA)


class StatsJournal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        existing = [seq for seq, _ in self.segments()]
        self._seq = max(existing, default=0) + 1  # the segment appends go to
        self._sink: pa.OSFile | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None

    def segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = _SEGMENT.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def append(self, table: pa.Table) -> None:
        """Write and fsync `table` (JOURNAL_SCHEMA) to the current segment."""
        if self._writer is None or self._sink is None:
            path = self.directory / f"seg-{self._seq:012d}.arrows"
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = ipc.new_stream(self._sink, JOURNAL_SCHEMA)
        self._writer.write_table(table)
        self._sink.flush()
        os.fsync(self._sink.fileno())

    def rotate(self) -> int:
        """Close the current segment; later appends go to the next. Returns the closed one's
        number (everything appended so far is in segments up to it)."""
        if self._writer is not None and self._sink is not None:
            self._writer.close()
            self._sink.close()
        self._writer = self._sink = None
        closed = self._seq
        self._seq += 1
        return closed

    def remove_through(self, seq: int) -> None:
        for number, path in self.segments():
            if number <= seq:
                path.unlink(missing_ok=True)
