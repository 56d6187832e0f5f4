"""CloudWatch Logs through Amazon Data Firehose: the HTTP endpoint delivery contract on
`POST /v1/firehose`.

Firehose sends `{"requestId", "timestamp", "records": [{"data": <base64>}]}` with the key in
`X-Amz-Firehose-Access-Key`; each record is a gzip-compressed CloudWatch Logs subscription
payload. Firehose counts only a 200 with `{"requestId": <same>, "timestamp": <ms>}` as delivered;
any failure carries `errorMessage` too. It treats 413 as permanent and retries every other
status with the same `X-Amz-Firehose-Request-Id`, so a request id already delivered answers 200
without ingesting again.

A request is all-or-nothing, like every source here: a malformed record (bad base64, bad gzip,
not a subscription payload) refuses the whole request with 400 naming the record. Firehose then
retries it until its retry duration ends and writes the batch to its S3 error backup, so the
bad record and its neighbours are kept there rather than silently dropped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ingest_gateway import telemetry
from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.cloudwatch import SOURCE, records_of_subscription
from ingest_gateway.normalize.text import TRUNCATED_ATTRIBUTE, decode_replacing
from ingest_gateway.sources.body import gunzip_bounded
from ingest_gateway.sources.bounds import decode_content
from ingest_gateway.sources.firehose_requests import DeliveredRequests
from ingest_gateway.sources.http_ingest import GatewaySettingsDep, KeysDep, PipelineDep, read_body
from loginsight.bus import BusUnavailable
from loginsight.model import LogRecord
from loginsight.settings import GatewaySettings, Settings

KEY_SOURCE = "firehose"  # the name of this endpoint's keys in gateway.api_keys
GZIP_MAGIC = b"\x1f\x8b"
REQUEST_IDS_FILE = "firehose_requests.sqlite"

router = APIRouter()


async def get_deliveries(request: Request) -> DeliveredRequests:
    """The app's one DeliveredRequests, opened on first use (async: no two threads race it)."""
    state = request.app.state
    deliveries: DeliveredRequests | None = getattr(state, "firehose_deliveries", None)
    if deliveries is None:
        settings: Settings = state.settings
        deliveries = DeliveredRequests(
            settings.data_dir / REQUEST_IDS_FILE, settings.gateway.firehose.remembered_request_ids
        )
        state.firehose_deliveries = deliveries
    return deliveries


DeliveriesDep = Annotated[DeliveredRequests, Depends(get_deliveries)]


def _answer(request_id: str, status: int = 200, error: str | None = None) -> JSONResponse:
    """The response body Firehose reads: requestId echoed, timestamp in ms, errorMessage."""
    body: dict[str, Any] = {"requestId": request_id, "timestamp": time.time_ns() // 1_000_000}
    if error is not None:
        body["errorMessage"] = error[:1000]
    return JSONResponse(body, status_code=status)


def _record_data(item: Any) -> bytes:
    if not isinstance(item, Mapping) or not isinstance(item.get("data"), str):
        raise IngestRefused("invalid_record", 'a record must be {"data": "<base64>"}')
    try:
        return base64.b64decode(item["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IngestRefused("invalid_base64", f"data is not base64: {exc}") from exc


def _subscription_payload(data: bytes, budget: int) -> tuple[Any, int]:
    # Gzip as CloudWatch sends it; plain JSON when the stream's decompression option is on.
    payload = gunzip_bounded(data, budget) if data.startswith(GZIP_MAGIC) else data
    try:
        return json.loads(decode_replacing(payload)), len(payload)
    except json.JSONDecodeError as exc:
        raise IngestRefused(
            "invalid_record", f"data is not a CloudWatch Logs subscription payload ({exc.msg})"
        ) from exc


def records_of_delivery(delivery: Mapping[str, Any], settings: GatewaySettings) -> list[LogRecord]:
    """Every log event of every record, refusing the request on the first bad record."""
    items = delivery.get("records")
    if not isinstance(items, list):
        raise IngestRefused("invalid_request", "records must be an array")
    budget = settings.max_decompressed_bytes
    received = datetime.now(UTC)
    records: list[LogRecord] = []
    for index, item in enumerate(items):
        try:
            payload, size = _subscription_payload(_record_data(item), budget)
            budget -= size
            records.extend(
                records_of_subscription(
                    payload, received=received, max_message_bytes=settings.max_record_bytes
                )
            )
        except IngestRefused as exc:
            raise IngestRefused(exc.reason, f"record {index}: {exc.detail}", exc.status) from exc
        if len(records) > settings.max_records_per_request:
            raise IngestRefused(
                "too_many_records",
                f"more than {settings.max_records_per_request} log events in one request",
                status=413,
            )
    return records


async def _read_delivery(request: Request, settings: GatewaySettings) -> dict[str, Any]:
    body = await read_body(request, settings)
    telemetry.BYTES_RECEIVED.labels(source=SOURCE).inc(len(body))
    encoding = request.headers.get("content-encoding")
    raw = decode_content(body, encoding, settings.max_decompressed_bytes, ("identity", "gzip"))
    try:
        delivery = json.loads(decode_replacing(raw))
    except json.JSONDecodeError as exc:
        raise IngestRefused("malformed_json", f"line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(delivery, dict):
        raise IngestRefused("invalid_request", "the body must be a Firehose delivery object")
    return delivery


async def _deliver(
    request: Request,
    request_id: str,
    pipeline: PipelineDep,
    settings: GatewaySettings,
    deliveries: DeliveredRequests,
) -> str:
    delivery = await _read_delivery(request, settings)
    request_id = request_id or str(delivery.get("requestId") or "")[:256]
    if not request_id:
        raise IngestRefused("missing_request_id", "no X-Amz-Firehose-Request-Id nor requestId")
    if not deliveries.begin(request_id):
        raise IngestRefused("request_in_progress", f"request {request_id} is being delivered", 409)
    try:
        if await asyncio.to_thread(deliveries.delivered, request_id):
            return request_id  # a retry of a delivered request: acknowledge, ingest nothing
        records = await asyncio.to_thread(records_of_delivery, delivery, settings)
        if records:
            await asyncio.to_thread(pipeline.ingest, records)
            truncated = sum(1 for record in records if TRUNCATED_ATTRIBUTE in record.attributes)
            if truncated:
                telemetry.RECORDS_TRUNCATED.labels(source=SOURCE).inc(truncated)
        await asyncio.to_thread(deliveries.remember, request_id)
    finally:
        deliveries.end(request_id)
    return request_id


@router.post("/v1/firehose")
async def firehose_delivery(
    request: Request,
    pipeline: PipelineDep,
    settings: GatewaySettingsDep,
    keys: KeysDep,
    deliveries: DeliveriesDep,
) -> JSONResponse:
    """Firehose HTTP endpoint delivery; 200 `{"requestId", "timestamp"}` once every log event
    is durable, otherwise the same with `errorMessage` (413 permanent, anything else retried)."""
    request_id = request.headers.get("x-amz-firehose-request-id", "")[:256]
    if not keys.accepts(KEY_SOURCE, request.headers.get("x-amz-firehose-access-key")):
        telemetry.rejected(SOURCE, "unauthenticated")
        return _answer(request_id, 401, "unauthenticated: missing or wrong access key")
    try:
        with telemetry.counting_refusals(SOURCE):
            request_id = await _deliver(request, request_id, pipeline, settings, deliveries)
    except IngestRefused as exc:
        return _answer(request_id, exc.status, f"{exc.reason}: {exc.detail}")
    except BusUnavailable as exc:
        return _answer(request_id, 503, f"bus_unavailable: {exc}")
    return _answer(request_id)
