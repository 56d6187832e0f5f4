"""Datadog: the logs intake API (`POST /api/v2/logs`) and monitor webhooks
(`POST /v1/webhooks/datadog`), so a Datadog Agent, Vector's `datadog_logs` sink or Fluent Bit's
`datadog` output pointed at the gateway ships here.

The intake speaks Datadog's contract: `DD-API-KEY` header, JSON array (or one object) or plain
text lines, gzip / deflate / zstd, 202 `{}` on success, 413 past 5 MB uncompressed or 1,000 logs,
and a log over 1 MB truncated (marked `truncated=true`) rather than refused. A request is
all-or-nothing: a 202 means every log is durable.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ingest_gateway.auth import bearer_token
from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.datadog import (
    SOURCE,
    RequestDefaults,
    normalize_datadog_log,
    normalize_datadog_webhook,
)
from ingest_gateway.normalize.text import TRUNCATED_ATTRIBUTE, decode_replacing
from ingest_gateway.sources.body import parse_json
from ingest_gateway.sources.bounds import decode_content
from ingest_gateway.sources.http_ingest import GatewaySettingsDep, KeysDep, PipelineDep, read_body
from ingest_gateway.telemetry import BYTES_RECEIVED, RECORDS_TRUNCATED, counting_refusals
from loginsight.model import LogRecord
from loginsight.settings import GatewaySettings

ENCODINGS = ("identity", "gzip", "x-gzip", "deflate", "zstd")
TEXT_TYPES = {"text/plain", "application/logplex-1"}
MAX_WEBHOOK_BYTES = 1_000_000

router = APIRouter()

QueryText = Annotated[str | None, Query(max_length=4096)]


def _payload_limit(settings: GatewaySettings) -> int:
    return min(settings.datadog.max_payload_bytes, settings.max_decompressed_bytes)


def _logs_of_json(text: str) -> list[Any]:
    body = parse_json(text)
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return [body]
    raise IngestRefused("invalid_record", "JSON body must be a log object or an array of them")


def parse_logs(
    text: str, media_type: str, defaults: RequestDefaults, settings: GatewaySettings
) -> list[LogRecord]:
    """Every log of a request body, refusing the whole request on a log that is not one."""
    if media_type in TEXT_TYPES:
        logs: list[Any] = [{"message": line} for line in text.splitlines() if line.strip()]
    else:
        logs = _logs_of_json(text)
    limit = settings.datadog.max_entries
    if len(logs) > limit:
        raise IngestRefused(
            "too_many_records", f"{len(logs)} logs in one payload; the limit is {limit}", 413
        )
    received = datetime.now(UTC)
    max_log_bytes = min(settings.datadog.max_log_bytes, settings.max_record_bytes)
    records = []
    for index, obj in enumerate(logs):
        try:
            records.append(
                normalize_datadog_log(
                    obj, defaults=defaults, received=received, max_log_bytes=max_log_bytes
                )
            )
        except IngestRefused as exc:
            raise IngestRefused(exc.reason, f"log {index}: {exc.detail}", exc.status) from exc
    return records


def _count_truncated(records: list[LogRecord]) -> None:
    truncated = sum(1 for record in records if TRUNCATED_ATTRIBUTE in record.attributes)
    if truncated:
        RECORDS_TRUNCATED.labels(source=SOURCE).inc(truncated)


async def _read_text(request: Request, settings: GatewaySettings, limit: int) -> str:
    body = await read_body(request, settings)
    BYTES_RECEIVED.labels(source=SOURCE).inc(len(body))
    encoding = request.headers.get("content-encoding")
    return decode_replacing(decode_content(body, encoding, limit, ENCODINGS))


@router.post("/api/v2/logs", status_code=202)
async def submit_logs(
    request: Request,
    pipeline: PipelineDep,
    settings: GatewaySettingsDep,
    keys: KeysDep,
    ddsource: QueryText = None,
    ddtags: QueryText = None,
    service: QueryText = None,
    hostname: QueryText = None,
) -> JSONResponse:
    """Datadog's logs intake; 202 `{}` once every log is durable. Query parameters `ddsource`,
    `ddtags`, `service` and `hostname` apply to every log of the request."""
    keys.check(SOURCE, request.headers.get("dd-api-key"))
    with counting_refusals(SOURCE):
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in {"application/json", ""} | TEXT_TYPES:
            raise IngestRefused(
                "unsupported_media_type",
                f"content type {media_type!r}; send application/json or text/plain",
                status=415,
            )
        text = await _read_text(request, settings, _payload_limit(settings))
        defaults = RequestDefaults(ddsource, service, hostname, ddtags)
        records = await asyncio.to_thread(parse_logs, text, media_type, defaults, settings)
        await asyncio.to_thread(pipeline.ingest, records)
        _count_truncated(records)
    return JSONResponse({}, status_code=202)


@router.post("/v1/webhooks/datadog", status_code=202)
async def monitor_webhook(
    request: Request, pipeline: PipelineDep, settings: GatewaySettingsDep, keys: KeysDep
) -> JSONResponse:
    """A Datadog monitor notification (webhook integration payload) as one event record.

    Authenticated by a `DD-API-KEY` or `Authorization: Bearer` custom header on the webhook."""
    keys.check(SOURCE, request.headers.get("dd-api-key") or bearer_token(request))
    with counting_refusals(SOURCE):
        text = await _read_text(request, settings, min(MAX_WEBHOOK_BYTES, _payload_limit(settings)))
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestRefused("malformed_json", f"webhook payload: {exc.msg}") from exc
        record = normalize_datadog_webhook(
            payload,
            received=datetime.now(UTC),
            max_log_bytes=min(settings.datadog.max_log_bytes, settings.max_record_bytes),
        )
        result = await asyncio.to_thread(pipeline.ingest, [record])
        _count_truncated([record])
    return JSONResponse({"accepted": result.accepted, "matched": result.matched}, status_code=202)
