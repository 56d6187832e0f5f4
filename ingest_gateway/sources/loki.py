"""Grafana Loki push: `POST /loki/api/v1/push`, so Promtail, Grafana Alloy and Vector's `loki`
sink can point at the gateway.

Two bodies, as Loki reads them: JSON (`{"streams": [{"stream": {labels}, "values": [["<ns>",
"<line>", {metadata}?]]}]}`, optionally gzip) and snappy-compressed protobuf `PushRequest`
(`application/x-protobuf`, or no content type). 204 once every entry is durable; a request is
all-or-nothing. Labels `service_name`/`service`/`app`/`job` give the service, `level`/
`detected_level`/`severity` the level, `host`/`hostname`/`instance` the host; every label and
structured-metadata pair is kept as an attribute.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.protobuf.message import DecodeError

from ingest_gateway.auth import bearer_token
from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.loki import (
    SOURCE,
    Stream,
    from_unix_nanos,
    parse_labels,
    parse_ns_timestamp,
)
from ingest_gateway.normalize.text import (
    TRUNCATED_ATTRIBUTE,
    decode_replacing,
    scrub_surrogates,
)
from ingest_gateway.proto import loki_push_pb2
from ingest_gateway.sources.bounds import decode_content, snappy_block_bounded
from ingest_gateway.sources.http_ingest import GatewaySettingsDep, KeysDep, PipelineDep, read_body
from ingest_gateway.telemetry import BYTES_RECEIVED, RECORDS_TRUNCATED, counting_refusals
from loginsight.model import LogRecord
from loginsight.settings import GatewaySettings

JSON_TYPE = "application/json"
PROTOBUF_TYPE = "application/x-protobuf"

router = APIRouter()

# One entry before normalizing: (event time, line, structured metadata).
Entry = tuple[datetime, str, dict[str, str]]


def presented_key(request: Request) -> str | None:
    """Bearer token, or the password of Basic auth (how Promtail and Alloy send a token)."""
    token = bearer_token(request)
    if token:
        return token
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        _user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return password or None


class _Limits:
    """Counts entries across the request and checks each stream's label set."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.entries = 0

    def check_size(self, size: int) -> None:
        if size > self.settings.loki.max_labels_bytes:
            raise IngestRefused(
                "labels_too_large", f"labels exceed {self.settings.loki.max_labels_bytes} bytes"
            )

    def labels(self, text: str) -> dict[str, str]:
        self.check_size(len(text))
        return parse_labels(text)

    def count(self, entries: int) -> None:
        self.entries += entries
        if self.entries > self.settings.max_records_per_request:
            raise IngestRefused(
                "too_many_records",
                f"more than {self.settings.max_records_per_request} entries in one push",
                status=413,
            )


def _json_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise IngestRefused("invalid_entry", "structured metadata must be an object")
    return {scrub_surrogates(str(k)[:256]): scrub_surrogates(str(v)) for k, v in value.items()}


def _json_entries(values: Any) -> Iterator[Entry]:
    if not isinstance(values, list):
        raise IngestRefused("invalid_entry", "values must be an array")
    for index, value in enumerate(values):
        if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[1], str):
            raise IngestRefused(
                "invalid_entry", f'values[{index}] must be ["<ns>", "<line>", {{...}}?]'
            )
        metadata = _json_metadata(value[2] if len(value) == 3 else None)
        yield parse_ns_timestamp(value[0]), value[1], metadata


def streams_of_json(text: str, limits: _Limits) -> Iterator[tuple[dict[str, str], list[Entry]]]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestRefused("malformed_json", f"line {exc.lineno}: {exc.msg}") from exc
    streams = body.get("streams") if isinstance(body, dict) else None
    if not isinstance(streams, list):
        raise IngestRefused("invalid_request", 'the body must be {"streams": [...]}')
    for index, stream in enumerate(streams):
        try:
            if not isinstance(stream, dict) or not isinstance(stream.get("stream", {}), dict):
                raise IngestRefused("invalid_labels", '"stream" must be an object of labels')
            labels = {
                scrub_surrogates(str(k)[:256]): scrub_surrogates(str(v))
                for k, v in stream.get("stream", {}).items()
            }
            limits.check_size(sum(len(k) + len(v) for k, v in labels.items()))
            values = stream.get("values")
            limits.count(len(values) if isinstance(values, list) else 0)
            yield labels, list(_json_entries(values))
        except IngestRefused as exc:
            raise IngestRefused(exc.reason, f"streams[{index}]: {exc.detail}", exc.status) from exc


def streams_of_protobuf(
    data: bytes, limits: _Limits
) -> Iterator[tuple[dict[str, str], list[Entry]]]:
    try:
        push = loki_push_pb2.RawPushRequest.FromString(data)
    except DecodeError as exc:
        raise IngestRefused("invalid_protobuf", f"body is not a Loki PushRequest: {exc}") from exc
    for index, stream in enumerate(push.streams):
        try:
            limits.count(len(stream.entries))
            labels = limits.labels(decode_replacing(stream.labels))
            entries = [
                (
                    from_unix_nanos(entry.timestamp.seconds * 10**9 + entry.timestamp.nanos),
                    decode_replacing(entry.line),
                    {
                        decode_replacing(pair.name)[:256]: decode_replacing(pair.value)
                        for pair in entry.structuredMetadata
                    },
                )
                for entry in stream.entries
            ]
        except IngestRefused as exc:
            raise IngestRefused(exc.reason, f"streams[{index}]: {exc.detail}", exc.status) from exc
        yield labels, entries


def parse_push(
    body: bytes,
    media_type: str,
    encoding: str | None,
    tenant: str | None,
    settings: GatewaySettings,
) -> list[LogRecord]:
    """Every entry of a push body as records, refusing the whole push on the first bad one."""
    raw = decode_content(
        body, encoding, settings.max_decompressed_bytes, ("identity", "gzip", "deflate")
    )
    limits = _Limits(settings)
    if media_type == JSON_TYPE:
        streams = streams_of_json(decode_replacing(raw), limits)
    else:
        streams = streams_of_protobuf(
            snappy_block_bounded(raw, settings.max_decompressed_bytes), limits
        )
    received = datetime.now(UTC)
    records: list[LogRecord] = []
    for labels, entries in streams:
        stream = Stream(labels, tenant)
        records.extend(
            stream.record(when, line, metadata, received, settings.max_record_bytes)
            for when, line, metadata in entries
        )
    return records


@router.post("/loki/api/v1/push", status_code=204)
async def push(
    request: Request, pipeline: PipelineDep, settings: GatewaySettingsDep, keys: KeysDep
) -> Response:
    """Loki's push API; 204 once every entry is durable. `X-Scope-OrgID` is kept as the
    `tenant` attribute."""
    keys.check(SOURCE, presented_key(request))
    with counting_refusals(SOURCE):
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in (JSON_TYPE, PROTOBUF_TYPE, ""):
            raise IngestRefused(
                "unsupported_media_type",
                f"content type {media_type!r}; send {JSON_TYPE} or {PROTOBUF_TYPE} (snappy)",
                status=415,
            )
        body = await read_body(request, settings)
        BYTES_RECEIVED.labels(source=SOURCE).inc(len(body))
        tenant = request.headers.get("x-scope-orgid", "")[:256] or None
        encoding = request.headers.get("content-encoding")
        records = await asyncio.to_thread(parse_push, body, media_type, encoding, tenant, settings)
        if records:
            await asyncio.to_thread(pipeline.ingest, records)
        truncated = sum(1 for record in records if TRUNCATED_ATTRIBUTE in record.attributes)
        if truncated:
            RECORDS_TRUNCATED.labels(source=SOURCE).inc(truncated)
    return Response(status_code=204)
