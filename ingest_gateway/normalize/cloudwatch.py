"""Normalize CloudWatch Logs subscription payloads (as delivered inside Firehose records)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import infer_level
from ingest_gateway.normalize.text import scrub_surrogates, truncate_utf8, truncation_marks
from loginsight.model import Level, LogRecord

SOURCE = "cloudwatch"
DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"
# A JSON log line (Lambda's JSON log format, structured app logs) names its level in one of these.
_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log.level")
_MAX_JSON_PROBE = 64 * 1024


def service_of_log_group(log_group: str) -> str:
    """The last segment of a log group path: `/aws/lambda/checkout` -> `checkout`."""
    segments = [segment for segment in log_group.split("/") if segment]
    return segments[-1] if segments else "unknown"


def _level(message: str) -> Level:
    stripped = message.lstrip()
    if stripped.startswith("{") and len(stripped) <= _MAX_JSON_PROBE:
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            for key in _JSON_LEVEL_KEYS:
                level = Level.parse(str(obj[key])) if obj.get(key) else None
                if level is not None:
                    return level
    return infer_level(message)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise IngestRefused("invalid_record", f"{field} must be a string")
    return scrub_surrogates(value[:1024])


def _event_time(event: Mapping[str, Any]) -> datetime:
    millis = event.get("timestamp")
    if not isinstance(millis, int) or isinstance(millis, bool):
        raise IngestRefused("invalid_timestamp", "logEvents[].timestamp must be epoch milliseconds")
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise IngestRefused("invalid_timestamp", f"timestamp {millis} out of range") from exc


def records_of_subscription(
    payload: Any, *, received: datetime, max_message_bytes: int
) -> list[LogRecord]:
    """The log events of one subscription payload; a CONTROL_MESSAGE (CloudWatch checking that
    the destination is reachable) has none."""
    if not isinstance(payload, Mapping):
        raise IngestRefused("invalid_record", "not a CloudWatch Logs subscription payload")
    kind = payload.get("messageType")
    if kind == CONTROL_MESSAGE:
        return []
    if kind != DATA_MESSAGE:
        raise IngestRefused("invalid_record", f"messageType {kind!r} is not DATA_MESSAGE")
    log_group = _text(payload.get("logGroup"), "logGroup")
    events = payload.get("logEvents")
    if not isinstance(events, list):
        raise IngestRefused("invalid_record", "logEvents must be an array")
    filters = payload.get("subscriptionFilters")
    common = {
        "log_group": log_group,
        "log_stream": _text(payload.get("logStream", ""), "logStream"),
        "owner": _text(str(payload.get("owner", "")), "owner"),
        "subscription_filters": scrub_surrogates(",".join(str(name) for name in filters)[:1024])
        if isinstance(filters, list)
        else "",
    }
    service = service_of_log_group(log_group)
    records = []
    for index, event in enumerate(events):
        if not isinstance(event, Mapping) or not isinstance(event.get("message"), str):
            raise IngestRefused("invalid_record", f"logEvents[{index}] needs a string message")
        message, original = truncate_utf8(scrub_surrogates(event["message"]), max_message_bytes)
        level = _level(message)
        records.append(
            LogRecord(
                event_time=_event_time(event),
                received_time=received,
                source=SOURCE,
                service=service,
                level=level,
                severity_number=level.severity_number,
                message=message,
                attributes={
                    **common,
                    "event_id": scrub_surrogates(str(event.get("id", ""))[:128]),
                    **truncation_marks(original),
                },
            )
        )
    return records
