"""Native gRPC ingest: the client-streaming `loginsight.v1.LogIngest/Push` service.

Each `LogBatch` is normalized and made durable as it arrives, so memory stays bounded on long
streams; the response counts what was acknowledged. Bad input ends the stream with
INVALID_ARGUMENT naming the problem, a bus outage with UNAVAILABLE, a gateway at its bounds
(spool or records in flight) with RESOURCE_EXHAUSTED; both retryable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf.message import DecodeError

from ingest_gateway import telemetry
from ingest_gateway.auth import KeyChecker
from ingest_gateway.errors import Backpressure, IngestRefused
from ingest_gateway.normalize.native import infer_level
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.proto import ingest_pb2
from loginsight.bus import BusUnavailable
from loginsight.model import Level, LogRecord
from loginsight.settings import GatewaySettings

log = logging.getLogger(__name__)

SERVICE_NAME = "loginsight.v1.LogIngest"
SOURCE = "sdk"  # the native gRPC protocol is what the Log Insight SDKs speak


def metadata_key(context: grpc.aio.ServicerContext) -> str | None:
    """An API key from gRPC metadata: `authorization: Bearer <key>` or `x-api-key: <key>`."""
    for key, value in context.invocation_metadata() or ():
        text = value.decode() if isinstance(value, bytes) else value
        if key == "x-api-key":
            return text
        if key == "authorization" and text.lower().startswith("bearer "):
            return text[7:].strip()
    return None


class _Undecodable:
    """Stands in for a request message that failed to decode, so the handler can name why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _decode_batch(data: bytes) -> ingest_pb2.LogBatch | _Undecodable:
    try:
        return ingest_pb2.LogBatch.FromString(data)
    except DecodeError as exc:  # e.g. invalid UTF-8 in a string field
        return _Undecodable(
            f"cannot decode LogBatch ({exc}): not a LogBatch protobuf, or a string field "
            "is not valid UTF-8"
        )


def entry_to_record(
    entry: ingest_pb2.LogEntry, received: datetime, max_message_bytes: int
) -> LogRecord:
    if len(entry.message.encode("utf-8", "surrogatepass")) > max_message_bytes:
        raise IngestRefused("record_too_large", f"message exceeds {max_message_bytes} bytes", 413)
    level = Level.parse(entry.level)
    if level is None and entry.severity_number:
        level = Level.from_severity_number(entry.severity_number)
    if level is None:
        level = infer_level(entry.message)
    event_time = (
        datetime.fromtimestamp(entry.time_unix_nano / 1e9, UTC)
        if entry.time_unix_nano
        else received
    )
    return LogRecord(
        event_time=event_time,
        received_time=received,
        source=SOURCE,
        service=entry.service or "unknown",
        host=entry.host or None,
        environment=entry.environment or None,
        level=level,
        severity_number=entry.severity_number or level.severity_number,
        message=entry.message,
        attributes=dict(entry.attributes),
        trace_id=entry.trace_id or None,
        span_id=entry.span_id or None,
    )


class LogIngestService:
    def __init__(
        self, pipeline: IngestPipeline, settings: GatewaySettings, keys: KeyChecker
    ) -> None:
        self._pipeline = pipeline
        self._settings = settings
        self._keys = keys

    def _records_of(self, batch: ingest_pb2.LogBatch, offset: int) -> list[LogRecord]:
        if len(batch.entries) > self._settings.max_records_per_request:
            raise IngestRefused(
                "too_many_records",
                f"more than {self._settings.max_records_per_request} entries in one batch",
            )
        received = datetime.now(UTC)
        records = []
        for index, entry in enumerate(batch.entries):
            try:
                records.append(entry_to_record(entry, received, self._settings.max_record_bytes))
            except IngestRefused as exc:
                raise IngestRefused(exc.reason, f"entry {offset + index}: {exc.detail}") from exc
        return records

    async def Push(
        self,
        request_iterator: AsyncIterator[ingest_pb2.LogBatch | _Undecodable],
        context: grpc.aio.ServicerContext,
    ) -> ingest_pb2.PushResponse:
        if not self._keys.accepts(SOURCE, metadata_key(context)):
            telemetry.rejected(SOURCE, "unauthenticated")
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key")
        accepted = matched = 0
        async for batch in request_iterator:
            if isinstance(batch, _Undecodable):
                telemetry.rejected(SOURCE, "undecodable")
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, batch.reason)
                raise AssertionError("unreachable: abort raises")  # narrows the type
            try:
                records = self._records_of(batch, accepted)
                result = await asyncio.to_thread(self._pipeline.ingest, records)
            except IngestRefused as exc:
                telemetry.rejected(SOURCE, exc.reason)
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{exc.reason}: {exc.detail} ({accepted} entries were accepted before it)",
                )
            except Backpressure as exc:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{exc} ({accepted} entries were accepted before it)",
                )
            except BusUnavailable as exc:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"bus_unavailable: {exc} ({accepted} entries were accepted before it)",
                )
            accepted += result.accepted
            matched += result.matched
        return ingest_pb2.PushResponse(accepted=accepted, matched=matched)


def handler(
    pipeline: IngestPipeline, settings: GatewaySettings, keys: KeyChecker
) -> grpc.GenericRpcHandler:
    """The LogIngest service as a handler for the gateway's gRPC server."""
    service = LogIngestService(pipeline, settings, keys)
    serialize: Callable[[ingest_pb2.PushResponse], bytes] = (
        ingest_pb2.PushResponse.SerializeToString
    )
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Push": grpc.stream_unary_rpc_method_handler(
                service.Push,
                request_deserializer=_decode_batch,
                response_serializer=serialize,
            )
        },
    )
