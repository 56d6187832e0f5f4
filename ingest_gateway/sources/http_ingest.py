"""Native HTTP ingest: `POST /v1/ingest` with JSON or NDJSON, optionally gzip-encoded.

JSON bodies are one record object, an array of them, or `{"records": [...]}`; NDJSON bodies
are one record object per line. A request is all-or-nothing: any bad record refuses it whole,
naming the line or index, and a 200 means every record is durable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from ingest_gateway.auth import KeyChecker, bearer_token
from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import normalize_native
from ingest_gateway.normalize.native_columns import (
    NotColumnar,
    decode_json,
    decode_ndjson,
    normalize_columns,
)
from ingest_gateway.pipeline import IngestPipeline, IngestResult
from ingest_gateway.sources.body import decode_utf8, gunzip_bounded, parse_json
from ingest_gateway.telemetry import BYTES_RECEIVED, counting_refusals
from loginsight.model import LogRecord
from loginsight.settings import GatewaySettings

JSON_TYPES = {"application/json"}
NDJSON_TYPES = {
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "text/plain",
}

router = APIRouter()


class IngestResponse(BaseModel):
    accepted: int
    matched: int


def get_pipeline(request: Request) -> IngestPipeline:
    pipeline: IngestPipeline = request.app.state.pipeline
    return pipeline


def get_gateway_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings.gateway
    return settings


PipelineDep = Annotated[IngestPipeline, Depends(get_pipeline)]
GatewaySettingsDep = Annotated[GatewaySettings, Depends(get_gateway_settings)]


async def read_body(request: Request, settings: GatewaySettings) -> bytes:
    """The raw body, refused as soon as it passes the size bound or the time bound."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise IngestRefused(
            "body_too_large", f"body exceeds {settings.max_body_bytes} bytes", status=413
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > settings.max_body_bytes:
                    raise IngestRefused(
                        "body_too_large", f"body exceeds {settings.max_body_bytes} bytes", 413
                    )
                chunks.append(chunk)
    except TimeoutError as exc:
        raise IngestRefused(
            "request_timeout", f"body not received within {settings.request_timeout_s}s", 408
        ) from exc
    return b"".join(chunks)


def _records_of_json(text: str) -> list[Any]:
    body = parse_json(text)
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        return list(body["records"])
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return [body]
    raise IngestRefused("invalid_record", "JSON body must be an object or an array of objects")


def _records_of_ndjson(text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestRefused(
                "malformed_json", f"line {number} column {exc.colno}: {exc.msg}"
            ) from exc


def parse_records(
    text: str, media_type: str, settings: GatewaySettings, source: str
) -> list[LogRecord]:
    """Parse and normalize a whole body, naming the record at fault in any refusal."""
    received = datetime.now(UTC)
    if media_type in JSON_TYPES:
        numbered: Iterator[tuple[int, Any]] = enumerate(_records_of_json(text))
        where = "record"
    else:
        numbered = _records_of_ndjson(text)
        where = "line"
    records: list[LogRecord] = []
    for position, obj in numbered:
        if len(records) >= settings.max_records_per_request:
            raise IngestRefused(
                "too_many_records",
                f"more than {settings.max_records_per_request} records in one request",
                status=413,
            )
        try:
            records.append(
                normalize_native(
                    obj,
                    source=source,
                    received=received,
                    max_message_bytes=settings.max_record_bytes,
                )
            )
        except IngestRefused as exc:
            raise IngestRefused(
                exc.reason, f"{where} {position}: {exc.detail}", exc.status
            ) from exc
    return records


SOURCE = "http"


def get_keys(request: Request) -> KeyChecker:
    keys: KeyChecker = request.app.state.sources.keys
    return keys


KeysDep = Annotated[KeyChecker, Depends(get_keys)]


@router.post("/v1/ingest", response_model=IngestResponse)
async def ingest(
    request: Request, pipeline: PipelineDep, settings: GatewaySettingsDep, keys: KeysDep
) -> IngestResponse:
    """Ingest native JSON / NDJSON records; 200 once every record is durable.

    Authenticated with `Authorization: Bearer <key>` when keys are configured for `http`."""
    keys.check(SOURCE, bearer_token(request))
    with counting_refusals(SOURCE):
        return await _ingest(request, pipeline, settings)


async def _ingest(
    request: Request, pipeline: IngestPipeline, settings: GatewaySettings
) -> IngestResponse:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES | NDJSON_TYPES:
        raise IngestRefused(
            "unsupported_media_type",
            f"content type {media_type or '(none)'!r}; send application/json or "
            "application/x-ndjson",
            status=415,
        )
    body = await read_body(request, settings)
    BYTES_RECEIVED.labels(source=SOURCE).inc(len(body))
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = gunzip_bounded(body, settings.max_decompressed_bytes)
    elif encoding not in ("identity", ""):
        raise IngestRefused(
            "unsupported_encoding", f"content encoding {encoding!r}; use gzip", status=415
        )
    text = decode_utf8(body)
    if settings.columnar_ingest:
        result = await asyncio.to_thread(ingest_columns, text, media_type, settings, pipeline)
    else:
        records = await asyncio.to_thread(parse_records, text, media_type, settings, SOURCE)
        result = await asyncio.to_thread(pipeline.ingest, records)
    return IngestResponse(accepted=result.accepted, matched=result.matched)


def ingest_columns(
    text: str, media_type: str, settings: GatewaySettings, pipeline: IngestPipeline
) -> IngestResult:
    """The whole body parsed, normalized and ingested as columns. A body this path cannot map
    exactly (or must refuse) is reparsed by `parse_records`, which gives the same records, or
    the refusal naming the line or record at fault."""
    received = datetime.now(UTC)
    try:
        if media_type in JSON_TYPES:
            decoded = decode_json(text, settings.max_records_per_request)
        else:
            decoded = decode_ndjson(text, settings.max_records_per_request)
        table = normalize_columns(
            decoded, source=SOURCE, received=received, max_message_bytes=settings.max_record_bytes
        )
    except NotColumnar:
        return pipeline.ingest(parse_records(text, media_type, settings, SOURCE))
    return pipeline.ingest_table(table)
