"""Normalize Log Insight's native JSON records (HTTP `/v1/ingest`, gRPC `LogIngest`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.text import scrub_surrogates
from loginsight.model import Level, LogRecord

# Field names accepted for each LogRecord field, first match wins.
_TIME_KEYS = ("ts", "timestamp", "time", "@timestamp", "event_time")
_MESSAGE_KEYS = ("message", "msg", "log", "body")
_LEVEL_KEYS = ("level", "severity", "status", "levelname")
_ATTR_KEYS = ("attrs", "attributes", "labels", "tags")

# A level written near the start of an unstructured line: "ERROR ...", "[warn] ...", "E0101 ...".
_LEADING_LEVEL = re.compile(
    r"^\W{0,3}(?:\S+\s+){0,3}?\[?(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|SEVERE|FATAL|"
    r"CRITICAL|CRIT|PANIC)\b",
    re.IGNORECASE,
)


def parse_event_time(value: Any, field: str = "ts") -> datetime:
    """RFC 3339 text, or a Unix epoch number in s, ms, µs or ns (told apart by magnitude)."""
    if isinstance(value, bool):
        raise IngestRefused("invalid_timestamp", f"{field} is a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
        for divisor in (1e9, 1e6, 1e3):
            if abs(seconds) >= divisor * 1e8:  # beyond 1973 in that unit
                seconds = seconds / divisor
                break
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise IngestRefused("invalid_timestamp", f"{field}={value!r} out of range") from exc
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise IngestRefused("invalid_timestamp", f"{field}={value!r} is not RFC 3339") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise IngestRefused("invalid_timestamp", f"{field} has type {type(value).__name__}")


def infer_level(message: str) -> Level:
    match = _LEADING_LEVEL.match(message[:120])
    if match:
        return Level.parse(match.group(1)) or Level.INFO
    return Level.INFO


def _first(obj: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for key in keys:
        if key in obj and obj[key] is not None:
            return key, obj[key]
    return None


def _text(value: Any, field: str, limit: int = 1024) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise IngestRefused("invalid_field", f"{field} must be a string")
    text = scrub_surrogates(str(value))
    if len(text) > limit:
        raise IngestRefused("field_too_large", f"{field} is longer than {limit} characters")
    return text


def _attributes(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise IngestRefused("invalid_field", "attrs must be an object of string values")
    return {
        scrub_surrogates(str(k)[:256]): scrub_surrogates(v if isinstance(v, str) else str(v))
        for k, v in value.items()
    }


def normalize_native(
    obj: Any, *, source: str, received: datetime, max_message_bytes: int
) -> LogRecord:
    """Map one native JSON object onto a LogRecord, refusing what cannot be one."""
    if not isinstance(obj, Mapping):
        raise IngestRefused("invalid_record", "a record must be a JSON object")
    found = _first(obj, _MESSAGE_KEYS)
    if found is None:
        raise IngestRefused("missing_message", "a record needs a 'message' field")
    # JSON may carry lone surrogates ("\ud800") that no UTF-8 sink can write: replace them.
    message = scrub_surrogates(found[1] if isinstance(found[1], str) else str(found[1]))
    if len(message.encode("utf-8", "surrogatepass")) > max_message_bytes:
        raise IngestRefused(
            "record_too_large", f"message exceeds {max_message_bytes} bytes", status=413
        )

    time_field = _first(obj, _TIME_KEYS)
    event_time = parse_event_time(time_field[1], time_field[0]) if time_field else received

    level_field = _first(obj, _LEVEL_KEYS)
    level = Level.parse(str(level_field[1])) if level_field else None
    if level is None:
        level = infer_level(message)

    attrs_field = _first(obj, _ATTR_KEYS)
    return LogRecord(
        event_time=event_time,
        received_time=received,
        source=source,
        service=_text(obj.get("service") or "unknown", "service"),
        host=_text(obj["host"], "host") if obj.get("host") else None,
        environment=_text(obj["env"], "env") if obj.get("env") else None,
        level=level,
        severity_number=level.severity_number,
        message=message,
        attributes=_attributes(attrs_field[1]) if attrs_field else {},
        trace_id=_text(obj["trace_id"], "trace_id", 64) if obj.get("trace_id") else None,
        span_id=_text(obj["span_id"], "span_id", 32) if obj.get("span_id") else None,
    )
