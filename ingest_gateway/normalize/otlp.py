"""Normalize OpenTelemetry logs (an `ExportLogsServiceRequest`) onto `LogRecord`.

The mapping follows OpenTelemetry's logs data model: resource attributes `service.name`,
`host.name` and `deployment.environment[.name]` give service, host and environment;
`severity_number` gives the level (`severity_text` when the number is unset); `time_unix_nano`
(else `observed_time_unix_nano`) the event time. Resource, scope and record attributes are
flattened to strings, the record's own winning a clash. A record that cannot be mapped is
rejected alone (OTLP partial success); an over-long body is truncated and marked.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import infer_level
from ingest_gateway.normalize.text import TRUNCATED_ATTRIBUTE, truncation_marks
from loginsight.model import Level, LogRecord

SOURCE = "otlp"
SERVICE_KEY = "service.name"
HOST_KEY = "host.name"
# `deployment.environment` was renamed `deployment.environment.name` in semconv 1.27.
ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment")
SCOPE_NAME_KEY = "otel.scope.name"
TRUNCATION_MARK = " …[truncated]"
TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class OtlpRecords:
    """What a request maps to: the records, and what was rejected or truncated on the way."""

    records: list[LogRecord] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # rejected records by reason
    first_error: str = ""
    truncated: int = 0

    @property
    def rejected(self) -> int:
        return self.reasons.total()

    def reject(self, where: str, refusal: IngestRefused) -> None:
        if not self.rejected:
            self.first_error = f"{where}: {refusal.detail}"
        self.reasons[refusal.reason] += 1

    @property
    def error_message(self) -> str:
        """The `partial_success.error_message`: why records were rejected, or (a warning with
        none rejected) that some were truncated."""
        parts = []
        if self.rejected:
            parts.append(f"{self.rejected} log record(s) rejected; first: {self.first_error}")
        if self.truncated:
            parts.append(
                f"{self.truncated} log record body(ies) truncated "
                f"(marked {TRUNCATED_ATTRIBUTE}=true)"
            )
        return "; ".join(parts)


def any_value_json(value: AnyValue) -> Any:
    """An AnyValue as plain JSON data (bytes as base64, as OTLP/JSON writes them)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_json(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value_json(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def any_value_text(value: AnyValue) -> str:
    """An AnyValue as the text a LogRecord holds: strings as they are, structures as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind in ("int_value", "double_value"):
        return str(getattr(value, kind))
    data = any_value_json(value)
    if data is None:
        return ""
    if isinstance(data, str):  # bytes, already base64
        return data
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def attributes_text(attributes: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: any_value_text(kv.value) for kv in attributes}


def truncate_message(message: str, max_bytes: int) -> tuple[str, int | None]:
    """The message cut to `max_bytes` UTF-8 bytes and marked, with its original size if cut."""
    encoded = message.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return message, None
    keep = max(0, max_bytes - len(TRUNCATION_MARK.encode("utf-8")))
    return encoded[:keep].decode("utf-8", "ignore") + TRUNCATION_MARK, len(encoded)


def _event_time(record: OtlpLogRecord, received: datetime) -> datetime:
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    return _EPOCH + timedelta(microseconds=nanos // 1000) if nanos else received


def _hex_id(raw: bytes, size: int, name: str) -> str | None:
    if not raw:
        return None
    if len(raw) != size:
        raise IngestRefused(f"invalid_{name}", f"{name} is {len(raw)} bytes, not {size}")
    if not any(raw):  # all zeros means "no trace" in OTLP
        return None
    return raw.hex()


def _level(record: OtlpLogRecord, message: str) -> tuple[Level, int]:
    if 1 <= record.severity_number <= 24:
        return Level.from_severity_number(record.severity_number), record.severity_number
    level = Level.parse(record.severity_text) or infer_level(message)
    return level, level.severity_number


def _resource_fields(attributes: dict[str, str]) -> dict[str, Any]:
    environment = next((attributes[k] for k in ENVIRONMENT_KEYS if attributes.get(k)), None)
    return {
        "service": attributes.get(SERVICE_KEY) or "unknown",
        "host": attributes.get(HOST_KEY) or None,
        "environment": environment,
    }


def to_record(
    record: OtlpLogRecord,
    resource: dict[str, Any],
    inherited: dict[str, str],
    received: datetime,
    max_message_bytes: int,
) -> LogRecord:
    """One OTLP log record onto a LogRecord; raises IngestRefused when it cannot be mapped."""
    trace_id = _hex_id(record.trace_id, TRACE_ID_BYTES, "trace_id")
    span_id = _hex_id(record.span_id, SPAN_ID_BYTES, "span_id")
    attributes = {**inherited, **attributes_text(record.attributes)}
    message, original_bytes = truncate_message(any_value_text(record.body), max_message_bytes)
    if original_bytes is not None:
        attributes.update(truncation_marks(original_bytes))
    level, severity_number = _level(record, message)
    return LogRecord(
        event_time=_event_time(record, received),
        received_time=received,
        source=SOURCE,
        level=level,
        severity_number=severity_number,
        message=message,
        attributes=attributes,
        trace_id=trace_id,
        span_id=span_id,
        **resource,
    )


def to_records(
    request: ExportLogsServiceRequest, max_message_bytes: int, max_records: int
) -> OtlpRecords:
    """Every record of an export request; unmappable ones are counted as rejected."""
    total = sum(len(scope.log_records) for rl in request.resource_logs for scope in rl.scope_logs)
    if total > max_records:
        raise IngestRefused(
            "too_many_records",
            f"{total} log records in one export; the limit is {max_records}",
            status=413,
        )
    received = datetime.now(UTC)
    out = OtlpRecords()
    for r, resource_logs in enumerate(request.resource_logs):
        resource_attributes = attributes_text(resource_logs.resource.attributes)
        resource = _resource_fields(resource_attributes)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            inherited = {**resource_attributes, **attributes_text(scope_logs.scope.attributes)}
            if scope_logs.scope.name:
                inherited[SCOPE_NAME_KEY] = scope_logs.scope.name
            for i, record in enumerate(scope_logs.log_records):
                try:
                    mapped = to_record(record, resource, inherited, received, max_message_bytes)
                except IngestRefused as exc:
                    out.reject(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]", exc)
                    continue
                out.records.append(mapped)
                out.truncated += TRUNCATED_ATTRIBUTE in mapped.attributes
    return out
