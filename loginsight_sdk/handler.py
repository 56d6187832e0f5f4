"""`LogInsightHandler`: a `logging.Handler` that ships records to a Log Insight gateway over its
gRPC `LogIngest` service.

The application thread only formats a record and puts it on a bounded queue; when the queue is
full the record is dropped and counted (`dropped`), never waited for. A background thread sends
batches, retrying with backoff while the gateway is unreachable or busy (UNAVAILABLE,
DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) and giving a batch up at once on a permanent refusal
(INVALID_ARGUMENT, UNAUTHENTICATED ...). `flush(timeout)` waits for what is queued; `close()`
(also run by `logging.shutdown` at exit) flushes, then stops the thread.
"""

from __future__ import annotations

import atexit
import logging
import queue
import socket
import threading
import time
from collections.abc import Sequence

import grpc
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential_jitter,
)

from ingest_gateway.proto import ingest_pb2, ingest_pb2_grpc

_log = logging.getLogger(__name__)
_OWN_LOGGERS = ("loginsight_sdk", "grpc")  # never ship our own transport's records (feedback)

RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
# Short reconnect backoff: after an outage the next retry should find the gateway promptly.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
# The attributes every logging.LogRecord has; anything else on a record came from `extra`.
_STANDARD_ATTRIBUTES = frozenset(
    {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime", "taskName"}
)
_TRUNCATION_MARK = " …[truncated]"


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.RpcError) and exc.code() in RETRYABLE_CODES


def severity_number(levelno: int) -> int:
    """The OTLP SeverityNumber of a `logging` level (DEBUG 5, INFO 9, WARNING 13, ERROR 17,
    CRITICAL 21), custom levels placed between them."""
    if levelno >= logging.CRITICAL:
        return 21
    if levelno >= logging.ERROR:
        return 17
    if levelno >= logging.WARNING:
        return 13
    if levelno >= logging.INFO:
        return 9
    return 5 if levelno >= logging.DEBUG else 1


class LogInsightHandler(logging.Handler):
    """Ship `logging` records to a Log Insight gateway (`host:port` of its gRPC listener)."""

    def __init__(
        self,
        target: str = "127.0.0.1:4317",
        *,
        service: str,
        host: str | None = None,
        environment: str | None = None,
        api_key: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        level: int = logging.NOTSET,
        max_queue: int = 10_000,
        batch_size: int = 500,
        max_batch_bytes: int = 4 * 1024 * 1024,
        max_message_bytes: int = 256 * 1024,
        flush_interval_s: float = 1.0,
        rpc_timeout_s: float = 10.0,
        max_retry_s: float = 60.0,
        max_backoff_s: float = 5.0,
        shutdown_timeout_s: float = 5.0,
        close_at_exit: bool = True,
    ) -> None:
        super().__init__(level)
        self.service = service
        self.host = host if host is not None else socket.gethostname()
        self.environment = environment or ""
        self.dropped = 0  # records refused because the queue was full
        self.sent = 0  # records the gateway acknowledged
        self.failed = 0  # records given up: refused permanently, or retries ran out
        self._batch_size = batch_size
        self._max_batch_bytes = max_batch_bytes
        self._max_message_bytes = max_message_bytes
        self._flush_interval_s = flush_interval_s
        self._rpc_timeout_s = rpc_timeout_s
        self._max_retry_s = max_retry_s
        self._max_backoff_s = max_backoff_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._metadata = [("authorization", f"Bearer {api_key}")] if api_key else []
        self._queue: queue.Queue[ingest_pb2.LogEntry] = queue.Queue(maxsize=max_queue)
        self._pending = 0  # queued or in flight, guarded by _settled
        self._settled = threading.Condition()
        self._wake = threading.Event()  # flush(): send what is queued without waiting
        self._stop = threading.Event()  # close(): drain, then end the thread
        self._abandon = threading.Event()  # close() timed out: stop retrying
        self._closed = False
        if credentials is not None:
            self._channel = grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stub = ingest_pb2_grpc.LogIngestStub(self._channel)
        self._thread = threading.Thread(target=self._run, name="loginsight-sdk", daemon=True)
        self._thread.start()
        if close_at_exit:
            atexit.register(self.close)

    # -- the application's side: never blocks -------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN_LOGGERS) or self._closed:
            return
        try:
            entry = self._entry(record)
        except Exception:
            self.handleError(record)
            return
        with self._settled:
            self._pending += 1
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            with self._settled:
                self._pending -= 1
            self.dropped += 1  # emit runs under the handler's lock (Handler.handle)

    def _entry(self, record: logging.LogRecord) -> ingest_pb2.LogEntry:
        message = self.format(record)  # the message, then any traceback and stack
        encoded = message.encode("utf-8", "replace")
        if len(encoded) > self._max_message_bytes:
            keep = self._max_message_bytes - len(_TRUNCATION_MARK.encode())
            message = encoded[:keep].decode("utf-8", "ignore") + _TRUNCATION_MARK
        attributes = {
            key: str(value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        attributes["logger"] = record.name
        return ingest_pb2.LogEntry(
            time_unix_nano=int(record.created * 1e9),
            service=self.service,
            host=self.host,
            environment=self.environment,
            level=record.levelname,
            severity_number=severity_number(record.levelno),
            message=message,
            attributes=attributes,
        )

    # Returns a bool where logging.Handler.flush returns None: harmless to logging's callers.
    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Send what is queued now; wait up to `timeout` seconds (default: the shutdown timeout)
        until every record is acknowledged or given up. True when nothing is left pending."""
        self._wake.set()
        wait_s = self._shutdown_timeout_s if timeout is None else timeout
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, wait_s)

    def close(self) -> None:
        """Flush (bounded by the shutdown timeout), stop the sender thread, close the channel."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.flush()
        self._abandon.set()  # whatever is still retrying now is given up
        self._stop.set()
        self._thread.join(self._rpc_timeout_s + 1)
        self._channel.close()
        super().close()

    # -- the sender thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._next_batch()
            if batch:
                self._deliver(batch)

    def _next_batch(self) -> list[ingest_pb2.LogEntry]:
        """Up to batch_size entries (and max_batch_bytes), collected for at most one flush
        interval after the first, sooner when flushing."""
        batch: list[ingest_pb2.LogEntry] = []
        size = 0
        deadline = time.monotonic() + self._flush_interval_s
        while len(batch) < self._batch_size and size < self._max_batch_bytes:
            hurry = self._wake.is_set() or self._stop.is_set()
            remaining = 0.0 if hurry else deadline - time.monotonic()
            try:
                if remaining > 0:
                    entry = self._queue.get(timeout=min(remaining, 0.05))
                else:
                    entry = self._queue.get_nowait()
            except queue.Empty:
                if remaining <= 0:
                    self._wake.clear()
                    break
                continue
            batch.append(entry)
            size += entry.ByteSize()
        return batch

    def _deliver(self, batch: Sequence[ingest_pb2.LogEntry]) -> None:
        retrying = Retrying(
            retry=retry_if_exception(_is_retryable),
            wait=wait_exponential_jitter(initial=0.2, max=self._max_backoff_s),
            stop=stop_after_delay(self._max_retry_s) | stop_when_event_set(self._abandon),
            sleep=self._backoff,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._push(batch)
            self.sent += len(batch)
        except grpc.RpcError as exc:
            self.failed += len(batch)
            _log.warning(
                "log insight: gave up %d records: %s %s", len(batch), exc.code(), exc.details()
            )
        finally:
            with self._settled:
                self._pending -= len(batch)
                self._settled.notify_all()

    def _backoff(self, seconds: float) -> None:
        self._abandon.wait(seconds)  # close() cuts a backoff short

    def _push(self, batch: Sequence[ingest_pb2.LogEntry]) -> None:
        request = ingest_pb2.LogBatch(entries=batch)
        self._stub.Push(iter([request]), timeout=self._rpc_timeout_s, metadata=self._metadata)
