"""Syslog listeners (source `syslog`): UDP datagrams and TCP streams on one port.

TCP streams are framed per RFC 6587, decided frame by frame: a frame that starts with a digit
is octet-counted (`LEN SP MSG`), anything else runs to the next LF (or NUL, which Python's
SysLogHandler ends its messages with). Records are batched per connection (and per burst of
datagrams) before they go down the pipeline. When the bus is down a TCP connection stops
reading until it is back (the sender feels TCP backpressure); UDP has no such channel, so
datagrams wait in a bounded buffer and those beyond it are dropped and counted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pyarrow as pa

from ingest_gateway import telemetry
from ingest_gateway.normalize.syslog import decode_frame, parse_syslog, to_record
from ingest_gateway.normalize.syslog_columns import frames_to_table
from ingest_gateway.pipeline import IngestPipeline
from loginsight.bus import BusUnavailable
from loginsight.model import LogRecord
from loginsight.settings import SyslogSettings

log = logging.getLogger(__name__)

SOURCE = "syslog"
READ_BYTES = 64 * 1024
MAX_LENGTH_DIGITS = 10  # an octet count longer than this is not one
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # the last one repeats
_DELIMITERS = b"\n\x00"

Transport = Literal["tcp", "udp"]


@dataclass(frozen=True)
class Frame:
    """One message's bytes, cut at the size limit when `truncated`."""

    data: bytes
    truncated: bool = False


class SyslogFramer:
    """Splits one TCP stream into frames, octet counting and newline framing mixed freely.

    Holds at most about one maximum-size message: a longer frame is cut there and the rest of
    it is discarded as it arrives."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_bytes = max_message_bytes
        self._buffer = bytearray()
        self._discard_bytes = 0  # rest of an oversized octet-counted frame
        self._discard_line = False  # rest of an oversized newline-framed frame

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data`."""
        self._buffer += data
        frames: list[Frame] = []
        position = 0
        while True:
            frame, position = self._next(position)
            if frame is None:
                break
            frames.append(frame)
        del self._buffer[:position]  # once per feed: no quadratic copying
        return frames

    def finish(self) -> list[Frame]:
        """At end of stream: what is left is one last frame (its delimiter never came)."""
        rest = bytes(self._buffer).strip(b"\r\n\x00")
        self._buffer.clear()
        if not rest or self._discard_bytes or self._discard_line:
            return []
        return [Frame(rest[: self.max_bytes], len(rest) > self.max_bytes)]

    def _next(self, pos: int) -> tuple[Frame | None, int]:
        buf = self._buffer
        pos = self._skip_discarded(pos)
        while pos < len(buf) and buf[pos] in b"\r\n\x00":  # stray delimiters between frames
            pos += 1
        if pos >= len(buf) or self._discard_bytes or self._discard_line:
            return None, pos
        if buf[pos : pos + 1].isdigit():
            counted = self._octet_counted(pos)
            if counted is not None:
                return counted
        return self._newline_framed(pos)

    def _skip_discarded(self, pos: int) -> int:
        buf = self._buffer
        if self._discard_bytes:
            skipped = min(self._discard_bytes, len(buf) - pos)
            self._discard_bytes -= skipped
            pos += skipped
        if self._discard_line:
            end = _delimiter(buf, pos)
            if end < 0:
                return len(buf)
            self._discard_line = False
            pos = end + 1
        return pos

    def _octet_counted(self, pos: int) -> tuple[Frame | None, int] | None:
        """`LEN SP MSG` at `pos`; None when this is no octet count after all."""
        buf = self._buffer
        space = buf.find(b" ", pos, pos + MAX_LENGTH_DIGITS + 1)
        if space < 0:
            waiting = len(buf) - pos <= MAX_LENGTH_DIGITS and buf[pos:].isdigit()
            return (None, pos) if waiting else None
        if not buf[pos:space].isdigit():
            return None
        length, start = int(buf[pos:space]), space + 1
        if length <= self.max_bytes:
            if len(buf) < start + length:
                return None, pos
            return Frame(bytes(buf[start : start + length])), start + length
        if len(buf) < start + self.max_bytes:
            return None, pos
        self._discard_bytes = length - self.max_bytes
        return Frame(bytes(buf[start : start + self.max_bytes]), truncated=True), (
            start + self.max_bytes
        )

    def _newline_framed(self, pos: int) -> tuple[Frame | None, int]:
        buf = self._buffer
        end = _delimiter(buf, pos)
        if end < 0:
            if len(buf) - pos <= self.max_bytes:
                return None, pos
            self._discard_line = True
            return Frame(bytes(buf[pos : pos + self.max_bytes]), truncated=True), len(buf)
        frame = bytes(buf[pos:end])
        if len(frame) > self.max_bytes:
            return Frame(frame[: self.max_bytes], truncated=True), end + 1
        return Frame(frame), end + 1


def _delimiter(buf: bytearray, pos: int) -> int:
    found = [i for i in (buf.find(d, pos) for d in (b"\n", b"\x00")) if i >= 0]
    return min(found) if found else -1


def build_records(frames: Sequence[Frame], received: datetime, transport: str) -> list[LogRecord]:
    """Parse frames into records, one by one; empty frames are skipped, unparseable ones kept
    raw. The precise path: `frames_to_table` takes the common shape in columns, the rest here."""
    records: list[LogRecord] = []
    for frame in frames:
        text = decode_frame(frame.data)
        if not text.strip():
            continue
        message = parse_syslog(text, received)
        if message.format == "raw":
            telemetry.PARSE_FALLBACK.labels(source=SOURCE).inc()
        extra: dict[str, str] = {"syslog.transport": transport}
        if frame.truncated:
            extra["truncated"] = "true"
            telemetry.RECORDS_TRUNCATED.labels(source=SOURCE).inc()
        records.append(to_record(message, received=received, source=SOURCE, extra=extra))
    return records


class _DatagramReceiver(asyncio.DatagramProtocol):
    def __init__(self, source: SyslogSource) -> None:
        self.source = source

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.source.on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("syslog UDP socket error: %s", exc)


class SyslogSource:
    """The syslog TCP and UDP listeners, as one background source of the gateway."""

    name = SOURCE

    def __init__(self, settings: SyslogSettings, pipeline: IngestPipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._udp_pending: collections.deque[Frame] = collections.deque()
        self._udp_ready = asyncio.Event()
        self._udp_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        host, port = self.settings.host, self.settings.port
        if self.settings.tcp_enabled:
            self._server = await asyncio.start_server(self._serve_connection, host, port)
        if self.settings.udp_enabled:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _DatagramReceiver(self), local_addr=(host, port)
            )
            self._udp_transport = transport
            self._udp_task = asyncio.create_task(self._deliver_datagrams())
        log.info("syslog listening on %s:%s (tcp=%s udp=%s)", host, port,
                 self.settings.tcp_enabled, self.settings.udp_enabled)  # fmt: skip

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._udp_transport is not None:
            self._udp_transport.close()
        if self._udp_task is not None:
            self._udp_task.cancel()
            await asyncio.gather(self._udp_task, return_exceptions=True)
            await self._deliver_once(list(self._udp_pending), "udp")

    # ---- TCP --------------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self.settings.max_connections:
            telemetry.rejected(SOURCE, "too_many_connections")
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._read_stream(reader)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:  # a bug must cost one connection, never the listener
            log.exception("syslog TCP connection from %s failed", writer.get_extra_info("peername"))
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        framer = SyslogFramer(self.settings.max_message_bytes)
        batch: list[Frame] = []
        deadline = 0.0
        while True:
            wait = self.settings.idle_timeout_s if not batch else max(0.0, deadline - loop.time())
            try:
                data = await asyncio.wait_for(reader.read(READ_BYTES), wait)
            except TimeoutError:
                if not batch:
                    log.debug("syslog TCP connection idle for %ss: closed", wait)
                    return
                await self._deliver(batch, "tcp")  # while delivering, nothing is read
                batch = []
                continue
            if not data:
                await self._deliver(batch + framer.finish(), "tcp")
                return
            telemetry.BYTES_RECEIVED.labels(source=SOURCE).inc(len(data))
            frames = framer.feed(data)
            if frames and not batch:
                deadline = loop.time() + self.settings.batch_max_wait_s
            batch.extend(frames)
            if len(batch) >= self.settings.batch_max_records:
                await self._deliver(batch, "tcp")
                batch = []

    # ---- UDP --------------------------------------------------------------------------------

    def on_datagram(self, data: bytes) -> None:
        telemetry.BYTES_RECEIVED.labels(source=SOURCE).inc(len(data))
        if len(self._udp_pending) >= self.settings.udp_buffer_records:
            telemetry.rejected(SOURCE, "buffer_full")
            return
        limit = self.settings.max_message_bytes
        self._udp_pending.append(Frame(data[:limit], truncated=len(data) > limit))
        self._udp_ready.set()

    async def _deliver_datagrams(self) -> None:
        while True:
            await self._udp_ready.wait()
            await asyncio.sleep(self.settings.batch_max_wait_s)  # let the burst gather
            self._udp_ready.clear()
            while self._udp_pending:
                count = min(len(self._udp_pending), self.settings.batch_max_records)
                batch = [self._udp_pending.popleft() for _ in range(count)]
                await self._deliver(batch, "udp")

    # ---- delivery ---------------------------------------------------------------------------

    async def _deliver(self, frames: Sequence[Frame], transport: Transport) -> None:
        """Into the pipeline, retrying while the bus is down (cancelled only by stop())."""
        table = await self._table(frames, transport)
        attempt = 0
        while table is not None:
            try:
                await asyncio.to_thread(self.pipeline.ingest_table, table)
                return
            except BusUnavailable as exc:
                delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
                log.warning("syslog: bus unavailable (%s), retrying in %ss", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _deliver_once(self, frames: Sequence[Frame], transport: Transport) -> None:
        table = await self._table(frames, transport)
        if table is None:
            return
        try:
            await asyncio.to_thread(self.pipeline.ingest_table, table)
        except BusUnavailable:
            telemetry.rejected(SOURCE, "bus_unavailable", table.num_rows)

    @staticmethod
    async def _table(frames: Sequence[Frame], transport: Transport) -> pa.Table | None:
        """The frames as one batch of columns; None when they make no record."""
        if not frames:
            return None
        table = await asyncio.to_thread(
            frames_to_table, frames, datetime.now(UTC), transport, build_records
        )
        return table if table.num_rows else None
