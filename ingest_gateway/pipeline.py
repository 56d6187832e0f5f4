"""The stages between a source and the sinks, run one batch at a time."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest_gateway import telemetry
from ingest_gateway.errors import Backpressure
from ingest_gateway.filter import RuleFilter
from ingest_gateway.group_commit import GroupCommit
from ingest_gateway.sinks.archive import ArchiveWriter, records_from_table, records_to_table
from ingest_gateway.sinks.spool import Spool, SpoolingPublisher
from ingest_gateway.sinks.stats import StatsWriter
from loginsight.bus import Bus, BusUnavailable
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    matched: int


@dataclass(frozen=True)
class SinkBatch:
    """One ingest call's share of a group write: its table, bus messages, matches per source."""

    table: pa.Table
    messages: Sequence[tuple[str | None, bytes]]
    matched: Counter[str]


class InFlightLimit:
    """Bounds the records that ingest calls in progress hold in memory: past the bound a call is
    refused with Backpressure (429) instead of queueing. A call is always let in when nothing
    else is in flight, so a request within the size limits is never refused forever."""

    def __init__(self, max_records: int, retry_after_s: int) -> None:
        self.max_records = max_records
        self.retry_after_s = retry_after_s
        self._held = 0
        self._lock = threading.Lock()

    def acquire(self, count: int) -> None:
        with self._lock:
            if self._held and self._held + count > self.max_records:
                raise Backpressure(
                    "too_many_in_flight",
                    f"{self._held} records are in flight, the bound is {self.max_records}",
                    status=429,
                    retry_after_s=self.retry_after_s,
                )
            self._held += count

    def release(self, count: int) -> None:
        with self._lock:
            self._held -= count


class IngestPipeline:
    """filter -> bus (matches) -> archive (all) -> stats (all). Returns only once the matches are
    durable (confirmed by the bus, or fsynced to the spool) and every record is in the archive,
    so a source may acknowledge. If neither the bus nor the spool takes the matches, nothing is
    archived or counted and the source answers with a retryable error (Backpressure when a
    bound is reached)."""

    def __init__(
        self,
        rules: RuleFilter,
        stats: StatsWriter,
        bus: Bus,
        archive: ArchiveWriter | None = None,
        spool: Spool | None = None,
        in_flight: InFlightLimit | None = None,
        columnar: bool = True,
    ) -> None:
        """`columnar=False` runs the per-record stages of before the columnar path (kept as the
        baseline bench.ingest_http measures against)."""
        self.rules = rules
        self.stats = stats
        self.bus = bus
        self.archive = archive
        self.publisher = SpoolingPublisher(bus, spool)
        self.in_flight = in_flight
        self.columnar = columnar
        # Concurrent columnar batches share one bus publish, archive fsync and stats commit.
        self._sink_commits: GroupCommit[SinkBatch] = GroupCommit(self._write_sinks)

    @contextmanager
    def admitted(self, count: int, sources: Counter[str]) -> Iterator[None]:
        """Hold `count` records against the in-flight bound (Backpressure past it)."""
        if self.in_flight is None:
            yield
            return
        try:
            self.in_flight.acquire(count)
        except Backpressure as exc:
            for source in sources:
                telemetry.rejected(source, exc.reason)
            raise
        try:
            yield
        finally:
            self.in_flight.release(count)

    def publish_matches(
        self, messages: Sequence[tuple[str | None, bytes]], sources: Counter[str]
    ) -> None:
        """The publish step: `(service, record.to_bus())` of the matches, `sources` their counts
        per source. Returns once they are durable; raises BusUnavailable (or Backpressure)."""
        try:
            delivery = self.publisher.publish(TOPIC_LOGS_TO_ANALYZE, messages)
        except Backpressure as exc:
            for source in sources:
                telemetry.rejected(source, exc.reason)
            raise
        except BusUnavailable:
            for source in sources:
                telemetry.BUS_DELIVERY_FAILED.labels(source=source).inc()
            raise
        if delivery is delivery.SPOOLED_BUS_FAILED:
            for source in sources:
                telemetry.BUS_DELIVERY_FAILED.labels(source=source).inc()
        if delivery.spooled:
            for source, count in sources.items():
                telemetry.RECORDS_SPOOLED.labels(source=source).inc(count)

    def ingest(self, records: Sequence[LogRecord]) -> IngestResult:
        if self.columnar and records:
            return self._ingest_columns(records_to_table(records), records)
        sources = Counter(record.source for record in records)
        for source, count in sources.items():
            telemetry.RECORDS_RECEIVED.labels(source=source).inc(count)
        with self.admitted(len(records), sources):
            filtered = self.rules.apply(records)
            matches = [record for record in filtered if record.matched_rules]
            matched = Counter(record.source for record in matches)
            self.publish_matches([(record.service, record.to_bus()) for record in matches], matched)
            if self.archive is not None:
                self.archive.append(filtered)
            self.stats.add(filtered)
        for source, count in sources.items():
            telemetry.RECORDS_ACCEPTED.labels(source=source).inc(count)
        for source, count in matched.items():
            telemetry.RECORDS_MATCHED.labels(source=source).inc(count)
        return IngestResult(accepted=len(filtered), matched=len(matches))

    def _write_sinks(self, batches: Sequence[SinkBatch]) -> None:
        """bus (matches), then archive and stats (all), for batches written together."""
        matched: Counter[str] = Counter()
        for batch in batches:
            matched.update(batch.matched)
        self.publish_matches([message for b in batches for message in b.messages], matched)
        table = pa.concat_tables([batch.table for batch in batches])
        if self.archive is not None:
            self.archive.append_table(table)
        self.stats.add_table(table)

    def ingest_table(self, table: pa.Table) -> IngestResult:
        """A batch already in columns (archive schema, as the native HTTP path builds it): the
        same stages as `ingest`, with LogRecord objects built only for the matches."""
        return self._ingest_columns(table, None)

    def _ingest_columns(self, table: pa.Table, records: Sequence[LogRecord] | None) -> IngestResult:
        counted = pc.value_counts(table["source"])
        sources = Counter(
            dict(zip(counted.field(0).to_pylist(), counted.field(1).to_pylist(), strict=True))
        )
        for source, count in sources.items():
            telemetry.RECORDS_RECEIVED.labels(source=source).inc(count)
        with self.admitted(table.num_rows, sources):
            rules = self.rules.match_column(table["message"], table["level"])
            table = table.set_column(
                table.schema.get_field_index("matched_rules"), "matched_rules", rules
            )
            rows = np.flatnonzero(pc.list_value_length(rules).to_numpy(zero_copy_only=False))
            if records is None:
                matches = records_from_table(table.take(pa.array(rows, pa.int64())))
            else:
                names = rules.take(pa.array(rows, pa.int64())).to_pylist()
                matches = [
                    records[int(row)].model_copy(update={"matched_rules": tuple(found)})
                    for row, found in zip(rows, names, strict=True)
                ]
            matched = Counter(record.source for record in matches)
            messages = [(record.service, record.to_bus()) for record in matches]
            self.publisher.check_sizes(messages)  # this request's refusal, not its group's
            self._sink_commits.submit(SinkBatch(table, messages, matched))
        for source, count in sources.items():
            telemetry.RECORDS_ACCEPTED.labels(source=source).inc(count)
        for source, count in matched.items():
            telemetry.RECORDS_MATCHED.labels(source=source).inc(count)
        return IngestResult(accepted=table.num_rows, matched=len(matches))
