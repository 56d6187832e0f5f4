"""The stages between a source and the sinks, run one batch at a time."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ingest_gateway import telemetry
from ingest_gateway.filter import RuleFilter
from ingest_gateway.sinks.archive import ArchiveWriter
from ingest_gateway.sinks.stats import StatsWriter
from loginsight.bus import Bus, BusUnavailable
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    matched: int


class IngestPipeline:
    """filter -> bus (matches) -> archive (all) -> stats (all). Returns only once the matches are
    durable on the bus and every record in the archive, so a source may acknowledge; if the bus
    refuses, nothing is archived or counted and the source answers with a retryable error."""

    def __init__(
        self, rules: RuleFilter, stats: StatsWriter, bus: Bus, archive: ArchiveWriter | None = None
    ) -> None:
        self.rules = rules
        self.stats = stats
        self.bus = bus
        self.archive = archive
        self._publish_lock = threading.Lock()

    def ingest(self, records: Sequence[LogRecord]) -> IngestResult:
        sources = Counter(record.source for record in records)
        for source, count in sources.items():
            telemetry.RECORDS_RECEIVED.labels(source=source).inc(count)
        filtered = self.rules.apply(records)
        matches = [record for record in filtered if record.matched_rules]
        try:
            with self._publish_lock:  # keeps each batch contiguous on the embedded bus
                self.bus.publish(
                    TOPIC_LOGS_TO_ANALYZE,
                    [(record.service, record.to_bus()) for record in matches],
                )
        except BusUnavailable:
            for source in sources:
                telemetry.BUS_DELIVERY_FAILED.labels(source=source).inc()
            raise
        if self.archive is not None:
            self.archive.append(filtered)
        self.stats.add(filtered)
        for source, count in sources.items():
            telemetry.RECORDS_ACCEPTED.labels(source=source).inc(count)
        for source, count in Counter(record.source for record in matches).items():
            telemetry.RECORDS_MATCHED.labels(source=source).inc(count)
        return IngestResult(accepted=len(filtered), matched=len(matches))
