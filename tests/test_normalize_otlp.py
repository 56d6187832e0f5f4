"""The OTLP → LogRecord mapping on its own: fallbacks OpenTelemetry's data model allows, and the
records it refuses one by one (partial success) or as a whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.otlp import OtlpRecords, to_records


def kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))  # type: ignore[arg-type]


def request_of(
    *records: LogRecord, resource: list[KeyValue] | None = None, scope: list[KeyValue] | None = None
) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=resource or []),
                scope_logs=[
                    ScopeLogs(
                        scope=InstrumentationScope(attributes=scope or []),
                        log_records=list(records),
                    )
                ],
            )
        ]
    )


def mapped(*records: LogRecord, **kwargs: list[KeyValue]) -> OtlpRecords:
    return to_records(request_of(*records, **kwargs), max_message_bytes=1000, max_records=10)


def test_fallbacks_for_time_level_environment_and_service() -> None:
    observed = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1e9)
    out = mapped(
        LogRecord(observed_time_unix_nano=observed, body=AnyValue(string_value="disk almost full")),
        LogRecord(severity_text="Critical", body=AnyValue(string_value="x")),
        LogRecord(body=AnyValue(string_value="ERROR: no level fields, read from the text")),
        resource=[kv("deployment.environment", string_value="legacy-env")],
    )
    first, second, third = out.records
    assert first.event_time == datetime(2026, 3, 1, tzinfo=UTC)  # observed time when time unset
    assert first.level == "info"  # no severity at all, no level word at the start
    assert second.level == "fatal"  # severity_text when severity_number is unset
    assert (third.level, third.severity_number) == ("error", 17)
    assert {record.service for record in out.records} == {"unknown"}
    assert {record.environment for record in out.records} == {"legacy-env"}
    assert out.rejected == 0


def test_attribute_precedence_and_value_kinds() -> None:
    out = mapped(
        LogRecord(
            attributes=[
                kv("who", string_value="record"),
                kv("ok", bool_value=True),
                kv("raw", bytes_value=b"\x00\x01"),
                kv("list", array_value=ArrayValue(values=[AnyValue(int_value=1)])),
            ],
            body=AnyValue(int_value=7),
            trace_id=bytes(16),  # all zeros: no trace
        ),
        resource=[kv("who", string_value="resource"), kv("region", string_value="eu")],
        scope=[kv("who", string_value="scope")],
    )
    [record] = out.records
    assert record.attributes["who"] == "record"
    assert record.attributes["region"] == "eu"
    assert (record.attributes["ok"], record.attributes["raw"]) == ("true", "AAE=")
    assert record.attributes["list"] == "[1]"
    assert record.message == "7"
    assert record.trace_id is None


def test_bad_ids_are_rejected_one_by_one_and_named() -> None:
    out = mapped(
        LogRecord(body=AnyValue(string_value="fine")),
        LogRecord(span_id=b"\x01\x02\x03"),
        LogRecord(trace_id=b"\x01" * 17),
    )
    assert len(out.records) == 1
    assert out.rejected == 2
    assert dict(out.reasons) == {"invalid_span_id": 1, "invalid_trace_id": 1}
    assert "logRecords[1]: span_id is 3 bytes, not 8" in out.error_message


def test_too_many_records_refuses_the_whole_export() -> None:
    with pytest.raises(IngestRefused) as refused:
        to_records(request_of(*[LogRecord()] * 3), max_message_bytes=1000, max_records=2)
    assert (refused.value.reason, refused.value.status) == ("too_many_records", 413)
