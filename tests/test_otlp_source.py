"""OTLP logs against a real gateway process, sent by OpenTelemetry's own Python SDK and exporters
(gRPC and HTTP), by hand-written OTLP/JSON, and by bad payloads that must be refused as OTLP
asks (400 never retried, 415, 401 / UNAUTHENTICATED, partial success)."""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as OtlpResource
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from loginsight.bus.sqlite import SQLiteBus
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE
from tests.support import RunningGateway, make_settings, running_gateway

MAX_RECORD = 64_000
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
OTLP_KEY = "otlp-test-key"


def otlp_url(gateway: RunningGateway) -> str:
    return f"http://127.0.0.1:{gateway.settings.otlp.http_port}/v1/logs"


def counts(gateway: RunningGateway, by: str) -> dict[str, int]:
    reply = httpx.get(f"{gateway.url}/v1/stats", params={"window": "1h", "by": by}, timeout=10)
    assert reply.status_code == 200, reply.text
    return {row[by]: row["count"] for row in reply.json()["rows"]}


def matched_records(gateway: RunningGateway, service: str) -> list[LogRecord]:
    """Records of `service` on the bus topic logs.to.analyze (the ones the filter matched)."""
    bus = SQLiteBus(gateway.settings.bus_db_path)
    try:
        end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
        messages = bus.read(TOPIC_LOGS_TO_ANALYZE, {0: 0}, end)
    finally:
        bus.close()
    records = [LogRecord.from_bus(message.value) for message in messages]
    return [record for record in records if record.service == service]


def otel_logger(exporter: LogRecordExporter, service: str) -> tuple[logging.Logger, LoggerProvider]:
    """A Python logger whose records go through the OpenTelemetry SDK to `exporter`."""
    resource = Resource.create(
        {"service.name": service, "host.name": "web-7", "deployment.environment": "prod"}
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = logging.getLogger(f"otel-test.{service}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    return logger, provider


def emit_checkout_logs(logger: logging.Logger, provider: LoggerProvider) -> str:
    """Two records the filter ignores and one ERROR inside a span; returns the span's trace id."""
    tracer = TracerProvider().get_tracer("checkout")
    logger.info("cart loaded", extra={"cart.items": 3})
    logger.warning("slow inventory lookup", extra={"latency_ms": 812})
    with tracer.start_as_current_span("pay") as span:
        logger.error("payment declined by issuer", extra={"order.id": "o-17", "retry": False})
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert provider.force_flush(30_000)
    provider.shutdown()
    return trace_id


def assert_checkout_arrived(gateway: RunningGateway, service: str, trace_id: str) -> None:
    assert counts(gateway, "service")[service] == 3
    assert counts(gateway, "source")["otlp"] >= 3
    [record] = matched_records(gateway, service)
    assert record.source == "otlp"
    assert (record.host, record.environment) == ("web-7", "prod")
    assert (record.level, record.severity_number) == ("error", 17)
    assert record.message == "payment declined by issuer"
    assert record.attributes["order.id"] == "o-17"
    assert record.attributes["retry"] == "false"
    assert record.attributes["service.name"] == service  # resource attributes kept too
    assert record.trace_id == trace_id
    assert record.span_id is not None and len(record.span_id) == 16
    assert "error_level" in record.matched_rules


def json_body(*records: dict[str, Any], service: str) -> dict[str, Any]:
    """An OTLP/JSON export request as the specification writes one (camelCase, hex ids)."""
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "host.name", "value": {"stringValue": "db-2"}},
                        {"key": "deployment.environment.name", "value": {"stringValue": "stg"}},
                    ]
                },
                "scopeLogs": [{"scope": {"name": "billing.jobs"}, "logRecords": list(records)}],
            }
        ]
    }


def decoded_status(reply: httpx.Response) -> status_pb2.Status:
    status = status_pb2.Status()
    if reply.headers["content-type"].startswith("application/x-protobuf"):
        status.ParseFromString(reply.content)
    else:
        body = reply.json()
        status.code, status.message = body.get("code", 0), body.get("message", "")
    return status


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("otlp") / "data",
        gateway={"max_record_bytes": MAX_RECORD, "max_body_bytes": 2_000_000},
    )
    with running_gateway(settings) as running:
        yield running


def test_otel_sdk_grpc_exporter_delivers_service_severity_and_attributes(
    gateway: RunningGateway,
) -> None:
    service = f"checkout-grpc-{uuid.uuid4().hex[:6]}"
    exporter = GrpcExporter(endpoint=gateway.grpc_target, insecure=True)
    trace_id = emit_checkout_logs(*otel_logger(exporter, service))
    assert_checkout_arrived(gateway, service, trace_id)


@pytest.mark.parametrize("compression", [Compression.Gzip, Compression.Deflate])
def test_otel_sdk_http_exporter_delivers(gateway: RunningGateway, compression: Compression) -> None:
    service = f"checkout-http-{uuid.uuid4().hex[:6]}"
    exporter = HttpExporter(endpoint=otlp_url(gateway), compression=compression)
    trace_id = emit_checkout_logs(*otel_logger(exporter, service))
    assert_checkout_arrived(gateway, service, trace_id)


def test_hand_written_otlp_json_maps_every_field(gateway: RunningGateway) -> None:
    service = f"billing-json-{uuid.uuid4().hex[:6]}"
    record = {
        "timeUnixNano": "1767225600000000000",  # 2026-01-01T00:00:00Z, a 64-bit int as a string
        "severityNumber": 18,
        "severityText": "ERROR2",
        "body": {"kvlistValue": {"values": [{"key": "event", "value": {"stringValue": "x"}}]}},
        "attributes": [
            {"key": "attempt", "value": {"intValue": "42"}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "someFutureField": {"ignored": True},
    }
    body = gzip.compress(json.dumps(json_body(record, service=service)).encode())
    reply = httpx.post(
        otlp_url(gateway), content=body, headers={**JSON, "content-encoding": "gzip"}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {}  # no partialSuccess: everything accepted
    [stored] = matched_records(gateway, service)
    assert stored.event_time.isoformat() == "2026-01-01T00:00:00+00:00"
    assert (stored.level, stored.severity_number) == ("error", 18)
    assert (stored.host, stored.environment) == ("db-2", "stg")
    assert json.loads(stored.message) == {"event": "x"}
    assert stored.attributes["attempt"] == "42"
    assert stored.attributes["ratio"] == "0.5"
    assert json.loads(stored.attributes["tags"]) == ["a"]
    assert stored.attributes["otel.scope.name"] == "billing.jobs"
    assert (stored.trace_id, stored.span_id) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
    )


def test_partial_success_rejects_only_the_unmappable_record(gateway: RunningGateway) -> None:
    service = f"partial-{uuid.uuid4().hex[:6]}"
    good = {"severityNumber": 9, "body": {"stringValue": "fine"}}
    bad = {"severityNumber": 9, "body": {"stringValue": "bad ids"}, "traceId": "0102030405"}
    reply = httpx.post(
        otlp_url(gateway),
        content=json.dumps(json_body(good, bad, good, service=service)),
        headers=JSON,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    partial = reply.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 1
    assert "logRecords[1]" in partial["errorMessage"]
    assert "trace_id is 5 bytes" in partial["errorMessage"]
    assert counts(gateway, "service")[service] == 2


def test_protobuf_request_gets_protobuf_response_and_long_body_is_truncated(
    gateway: RunningGateway,
) -> None:
    service = f"proto-{uuid.uuid4().hex[:6]}"
    request = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=OtlpResource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
                ),
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            OtlpLogRecord(
                                severity_text="FATAL",
                                body=AnyValue(string_value="panic: " + "x" * 100_000),
                            )
                        ]
                    )
                ],
            )
        ]
    )
    reply = httpx.post(
        otlp_url(gateway), content=request.SerializeToString(), headers=PROTOBUF, timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-protobuf"
    response = logs_service_pb2.ExportLogsServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_log_records == 0
    assert "truncated" in response.partial_success.error_message  # a warning, nothing rejected
    [stored] = matched_records(gateway, service)
    assert stored.level == "fatal"  # from severity_text, the number being unset
    assert len(stored.message.encode()) <= MAX_RECORD
    assert stored.message.endswith("[truncated]")
    assert stored.attributes["truncated"] == "true"  # the mark every source uses
    assert stored.attributes["original_bytes"] == str(100_007)


@pytest.mark.parametrize(
    ("content", "headers", "status", "reason"),
    [
        (b"\xff\xff\xff\xff", PROTOBUF, 400, "malformed_protobuf"),
        (b'{"resourceLogs": [', JSON, 400, "malformed_json"),
        (b'{"resourceLogs": [{"scopeLogs": "no"}]}', JSON, 400, "malformed_json"),
        (b'{"resourceLogs": 1}', JSON, 400, "malformed_json"),
        (
            json.dumps(json_body({"traceId": "not-hex"}, service="s")).encode(),
            JSON,
            400,
            "invalid_traceId",
        ),
        (b"not gzip", {**PROTOBUF, "content-encoding": "gzip"}, 400, "invalid_gzip"),
        (b"hello", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"x" * 2_000_001, PROTOBUF, 413, "body_too_large"),
    ],
)
def test_bad_payloads_get_a_status_naming_the_problem(
    gateway: RunningGateway, content: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    before = counts(gateway, "source").get("otlp", 0)
    reply = httpx.post(otlp_url(gateway), content=content, headers=headers, timeout=30)
    assert reply.status_code == status, reply.text
    assert "retry-after" not in reply.headers  # a bad payload is never retried
    answer = decoded_status(reply)
    assert answer.message.startswith(reason), answer.message
    assert answer.code == code_pb2.INVALID_ARGUMENT
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert f'loginsight_requests_rejected_total{{reason="{reason}",source="otlp"}}' in metrics
    assert counts(gateway, "source").get("otlp", 0) == before


def test_grpc_malformed_export_is_invalid_argument(gateway: RunningGateway) -> None:
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=lambda data: data,
            response_deserializer=logs_service_pb2.ExportLogsServiceResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as refused:
            export(b"\xff\xff\xff\xff", timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed_protobuf" in (refused.value.details() or "")


@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("otlp-keys") / "data", gateway={"api_keys": {"otlp": [OTLP_KEY]}}
    )
    with running_gateway(settings) as running:
        yield running


def test_http_without_the_key_is_401(keyed_gateway: RunningGateway) -> None:
    body = json.dumps(json_body({"body": {"stringValue": "hi"}}, service="nokey"))
    for headers in ({}, {"authorization": "Bearer wrong"}, {"x-api-key": "wrong"}):
        reply = httpx.post(otlp_url(keyed_gateway), content=body, headers={**JSON, **headers})
        assert reply.status_code == 401, reply.text
        assert decoded_status(reply).code == code_pb2.UNAUTHENTICATED
    assert "nokey" not in counts(keyed_gateway, "service")


def test_grpc_without_the_key_is_unauthenticated(keyed_gateway: RunningGateway) -> None:
    request = logs_service_pb2.ExportLogsServiceRequest()
    with grpc.insecure_channel(keyed_gateway.grpc_target) as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(request, timeout=30, metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_otel_exporters_with_the_key_deliver(keyed_gateway: RunningGateway) -> None:
    auth = {"authorization": f"Bearer {OTLP_KEY}"}
    grpc_service, http_service = "keyed-grpc", "keyed-http"
    emit_checkout_logs(
        *otel_logger(
            GrpcExporter(endpoint=keyed_gateway.grpc_target, insecure=True, headers=auth),
            grpc_service,
        )
    )
    emit_checkout_logs(
        *otel_logger(HttpExporter(endpoint=otlp_url(keyed_gateway), headers=auth), http_service)
    )
    seen = counts(keyed_gateway, "service")
    assert (seen[grpc_service], seen[http_service]) == (3, 3)
