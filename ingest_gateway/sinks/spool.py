"""The gateway's local spool: matches the bus could not confirm in time, fsynced, drained in order.

A request is acknowledged once its matches are durable: confirmed by the bus, or in this spool.
The spool is one SQLite file in WAL mode with synchronous=FULL, so an append returns only once it
is on disk. `SpoolDrainer` publishes the oldest spooled messages to the bus a batch at a time and
lets them go only after the bus confirmed them. While anything is spooled, new matches are
spooled behind it, so the bus sees each key's messages in the order they were acknowledged.

A crash between a drained batch's publish and its removal publishes it again: delivery is
at-least-once, and consumers drop duplicates by record id (`LogRecord.id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from ingest_gateway import telemetry
from ingest_gateway.errors import Backpressure, IngestRefused
from loginsight.bus import Bus, BusUnavailable

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    key TEXT,
    value BLOB NOT NULL
)
"""

DRAIN_BATCH_RECORDS = 5_000  # per bus publish while draining
DRAIN_IDLE_S = 0.1  # how often an empty spool is looked at (an in-memory count, no I/O)
DRAIN_BACKOFF_MIN_S = 0.2
DRAIN_BACKOFF_MAX_S = 5.0  # a bus that is back is drained at most this late (plus one timeout)


@dataclass(frozen=True)
class SpooledMessage:
    seq: int
    topic: str
    key: str | None
    value: bytes


class Spool:
    """A durable FIFO of bus messages, bounded in records and bytes."""

    def __init__(
        self, path: Path, max_records: int, max_bytes: int, retry_after_s: int = 5
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.retry_after_s = retry_after_s
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an append that returned survives a crash.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)
        count, size = self._conn.execute(
            "SELECT count(*), coalesce(sum(length(value)), 0) FROM spooled"
        ).fetchone()
        self._records, self._bytes = int(count), int(size)
        self._lock = threading.Lock()
        telemetry.SPOOL_RECORDS.set(self._records)

    @property
    def records(self) -> int:
        return self._records

    @property
    def size_bytes(self) -> int:
        """Bytes of the spooled message values."""
        return self._bytes

    def append(self, topic: str, messages: Sequence[tuple[str | None, bytes]]) -> None:
        """Append behind everything spooled, durably. Raises Backpressure once the spool has
        passed a bound (it may pass it by one batch), BusUnavailable when the disk refuses."""
        with self._lock:
            if self._records >= self.max_records or self._bytes >= self.max_bytes:
                raise Backpressure(
                    "spool_full",
                    f"the bus is unavailable and the spool holds {self._records} records "
                    f"({self._bytes} bytes), its bound",
                    status=503,
                    retry_after_s=self.retry_after_s,
                )
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT INTO spooled (topic, key, value) VALUES (?, ?, ?)",
                    [(topic, key, value) for key, value in messages],
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise BusUnavailable(f"spool: {exc}") from exc
            self._records += len(messages)
            self._bytes += sum(len(value) for _, value in messages)
            telemetry.SPOOL_RECORDS.set(self._records)

    def oldest(self, limit: int) -> list[SpooledMessage]:
        """Up to `limit` messages, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, topic, key, value FROM spooled ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [SpooledMessage(seq, topic, key, bytes(value)) for seq, topic, key, value in rows]

    def remove_through(self, seq: int) -> int:
        """Let go of every message up to and including `seq`; the number removed."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                count, size = self._conn.execute(
                    "SELECT count(*), coalesce(sum(length(value)), 0) FROM spooled WHERE seq <= ?",
                    (seq,),
                ).fetchone()
                self._conn.execute("DELETE FROM spooled WHERE seq <= ?", (seq,))
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._records -= int(count)
            self._bytes -= int(size)
            telemetry.SPOOL_RECORDS.set(self._records)
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Delivery(enum.Enum):
    """Where a publish went."""

    BUS = "bus"  # the bus confirmed it
    SPOOLED_BEHIND = "spooled_behind"  # older messages were spooled, so this was too
    SPOOLED_BUS_FAILED = "spooled_bus_failed"  # the bus did not confirm in time

    @property
    def spooled(self) -> bool:
        return self is not Delivery.BUS


class SpoolingPublisher:
    """The pipeline's publish step: to the bus when nothing is spooled and the bus confirms in
    time, else to the spool. Without a spool, a bus that cannot confirm raises BusUnavailable."""

    def __init__(self, bus: Bus, spool: Spool | None = None) -> None:
        self.bus = bus
        self.spool = spool
        self._topics: list[str] = []
        self._topics_ready = True

    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the topics. With a spool, a bus that is down does not stop the gateway from
        starting: everything is spooled until the drainer could create them."""
        self._topics = list(topics)
        try:
            self.bus.ensure_topics(self._topics)
        except BusUnavailable as exc:
            if self.spool is None:
                raise
            self._topics_ready = False
            log.warning("bus unavailable at start (%s): spooling until it is back", exc)

    def publish(self, topic: str, messages: Sequence[tuple[str | None, bytes]]) -> Delivery:
        """Make `messages` durable; returns only once they are (BusUnavailable otherwise).
        Raises IngestRefused (413) for a message the bus would never take (see `check_sizes`)."""
        if not messages:
            return Delivery.BUS
        self.check_sizes(messages)
        if self.spool is None:
            self.bus.publish(topic, messages)
            return Delivery.BUS
        delivery = Delivery.SPOOLED_BEHIND
        # Unlocked on purpose: a call that finds the spool empty started after every spooled
        # message was confirmed by the bus, so sending it straight to the bus keeps the order
        # of acknowledgements; calls running at the same time have no order between them.
        if self._topics_ready and self.spool.records == 0:
            try:
                self.bus.publish(topic, messages)
                return Delivery.BUS
            except BusUnavailable as exc:
                log.warning("bus did not confirm %d messages (%s): spooling", len(messages), exc)
                delivery = Delivery.SPOOLED_BUS_FAILED
        self.spool.append(topic, messages)
        return delivery

    def check_sizes(self, messages: Sequence[tuple[str | None, bytes]]) -> None:
        """Refuse (IngestRefused, 413) a message larger than the bus takes: spooled, it would
        block every message behind it. Call it per request before requests are published
        together, so that one request's refusal is not every request's."""
        limit = self.bus.max_message_bytes
        if limit is None:
            return
        for key, value in messages:
            size = len(value) + len(key.encode() if key else b"")
            if size > limit:
                raise IngestRefused(
                    "record_too_large",
                    f"a matched record is {size} bytes on the bus, over its limit of {limit}",
                    status=413,
                )

    @property
    def pending(self) -> bool:
        """Whether the drainer has work: spooled messages, or topics still to create."""
        return self.spool is not None and (not self._topics_ready or self.spool.records > 0)

    def drain_once(self, max_records: int = DRAIN_BATCH_RECORDS) -> int:
        """Publish the oldest `max_records` spooled messages, then let them go; returns how many
        moved. Raises BusUnavailable when the bus does not confirm (then nothing is let go)."""
        if self.spool is None:
            return 0
        if not self._topics_ready:
            self.bus.ensure_topics(self._topics)
            self._topics_ready = True
            log.info("bus is back: topics %s confirmed", ", ".join(self._topics))
        batch = self.spool.oldest(max_records)
        if not batch:
            return 0
        for topic, run in groupby(batch, key=lambda message: message.topic):
            self.bus.publish(topic, [(message.key, message.value) for message in run])
        removed = self.spool.remove_through(batch[-1].seq)
        telemetry.SPOOL_DRAINED.inc(removed)
        return removed


class SpoolDrainer:
    """The background task that drains the spool to the bus, retrying with backoff."""

    name = "spool"

    def __init__(
        self, publisher: SpoolingPublisher, batch_records: int = DRAIN_BATCH_RECORDS
    ) -> None:
        self.publisher = publisher
        self.batch_records = batch_records
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop after the batch in progress (bounded by the bus's publish timeout); whatever is
        still spooled is drained by the next start."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        backoff = DRAIN_BACKOFF_MIN_S
        while not self._stopping.is_set():
            pause = DRAIN_IDLE_S
            if self.publisher.pending:
                try:
                    moved = await asyncio.to_thread(self.publisher.drain_once, self.batch_records)
                    backoff = DRAIN_BACKOFF_MIN_S
                    pause = 0.0 if moved else DRAIN_IDLE_S
                except BusUnavailable as exc:
                    spool = self.publisher.spool
                    waiting = spool.records if spool is not None else 0
                    log.warning("spool: %d records wait for the bus (%s)", waiting, exc)
                    pause, backoff = backoff, min(backoff * 2, DRAIN_BACKOFF_MAX_S)
                except Exception:  # one bad round must not end draining
                    log.exception("spool: draining failed")
                    pause, backoff = backoff, min(backoff * 2, DRAIN_BACKOFF_MAX_S)
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
            else:
                await asyncio.sleep(0)  # let the loop breathe between batches
