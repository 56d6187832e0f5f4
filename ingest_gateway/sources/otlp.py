"""What the OTLP gRPC and OTLP/HTTP listeners share: decoding an export request in either
encoding, and exporting its records through the pipeline with OTLP's partial success."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from ingest_gateway import telemetry
from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.otlp import SOURCE, to_records
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sources.body import parse_json
from loginsight.settings import GatewaySettings

__all__ = ["SOURCE", "decode_json", "decode_protobuf", "export_logs"]

# OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64.
_HEX_ID_KEYS = ("traceId", "spanId", "trace_id", "span_id")


def decode_protobuf(data: bytes) -> ExportLogsServiceRequest:
    try:
        return ExportLogsServiceRequest.FromString(data)
    except DecodeError as exc:
        raise IngestRefused(
            "malformed_protobuf",
            f"cannot decode ExportLogsServiceRequest ({exc}): not OTLP logs protobuf, or a "
            "string field is not valid UTF-8",
        ) from exc


def _hex_ids_to_base64(body: Any) -> None:
    """Rewrite every log record's hex trace/span id in place as base64, for json_format."""
    for resource_logs in _list(_dict(body), "resourceLogs", "resource_logs"):
        for scope_logs in _list(_dict(resource_logs), "scopeLogs", "scope_logs"):
            for record in _list(_dict(scope_logs), "logRecords", "log_records"):
                for key in _HEX_ID_KEYS:
                    value = _dict(record).get(key)
                    if isinstance(value, str) and value:
                        try:
                            raw = bytes.fromhex(value)
                        except ValueError as exc:
                            raise IngestRefused(
                                f"invalid_{key}", f"{key} {value[:64]!r} is not hex"
                            ) from exc
                        record[key] = base64.b64encode(raw).decode("ascii")


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IngestRefused("malformed_json", f"expected a JSON object, got {type(value).__name__}")
    return value


def _list(parent: dict[str, Any], *keys: str) -> list[Any]:
    """The array under the first of `keys` present (OTLP/JSON allows either spelling)."""
    value = next((parent[key] for key in keys if key in parent), None)
    if value is None:
        return []
    if not isinstance(value, list):
        raise IngestRefused(
            "malformed_json", f"{keys[0]} is a {type(value).__name__}, not an array"
        )
    return value


def decode_json(text: str) -> ExportLogsServiceRequest:
    """An OTLP/JSON body (camelCase keys, hex ids, 64-bit integers as strings) as a request.
    Unknown fields are ignored, as OTLP asks of receivers."""
    body = parse_json(text)
    _hex_ids_to_base64(body)
    request = ExportLogsServiceRequest()
    try:
        json_format.ParseDict(body, request, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, ValueError) as exc:
        raise IngestRefused("malformed_json", f"not an OTLP logs request: {exc}") from exc
    return request


async def export_logs(
    request: ExportLogsServiceRequest, pipeline: IngestPipeline, settings: GatewaySettings
) -> ExportLogsServiceResponse:
    """Make every mappable record durable; the response counts those rejected.

    Raises IngestRefused when the request as a whole is refused, BusUnavailable when the bus
    cannot confirm (the client retries the whole request)."""
    mapped = await asyncio.to_thread(
        to_records, request, settings.max_record_bytes, settings.max_records_per_request
    )
    for reason, count in mapped.reasons.items():
        telemetry.rejected(SOURCE, reason, count)
    if mapped.records:
        await asyncio.to_thread(pipeline.ingest, mapped.records)
    if not (mapped.rejected or mapped.truncated):
        return ExportLogsServiceResponse()
    return ExportLogsServiceResponse(
        partial_success=ExportLogsPartialSuccess(
            rejected_log_records=mapped.rejected, error_message=mapped.error_message
        )
    )
