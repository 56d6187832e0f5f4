"""Normalize Datadog logs (intake API) and Datadog monitor webhook notifications."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import infer_level, parse_event_time
from ingest_gateway.normalize.text import scrub_surrogates, truncate_utf8, truncation_marks
from loginsight.model import Level, LogRecord

SOURCE = "datadog"

# Datadog's reserved attributes for the event time, in the order its pipelines look for them.
_TIME_KEYS = ("timestamp", "date", "@timestamp", "_timestamp", "Timestamp", "eventTime")
# Fields mapped onto the record itself rather than kept as attributes.
_RESERVED = {"message", "status", "hostname", "host", "service", "ddtags", *_TIME_KEYS}
# Datadog statuses that are not level names elsewhere.
_STATUS_ALIASES = {"ok": Level.INFO, "success": Level.INFO}
# Monitor webhook `$ALERT_TYPE` and `$ALERT_TRANSITION` values.
_ALERT_LEVELS = {
    "error": Level.ERROR,
    "warning": Level.WARN,
    "success": Level.INFO,
    "info": Level.INFO,
    "triggered": Level.ERROR,
    "warn": Level.WARN,
    "recovered": Level.INFO,
    "no data": Level.WARN,
}
MAX_ATTRIBUTES = 128
MAX_ATTRIBUTE_VALUE = 4096
MAX_DEPTH = 8


@dataclass(frozen=True)
class RequestDefaults:
    """What the intake reads from the query string and applies to every log of the request."""

    ddsource: str | None = None
    service: str | None = None
    hostname: str | None = None
    ddtags: str | None = None


@dataclass
class _Attributes:
    values: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        if len(self.values) >= MAX_ATTRIBUTES or value is None:
            return
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        self.values[scrub_surrogates(key[:256])] = scrub_surrogates(text[:MAX_ATTRIBUTE_VALUE])

    def flatten(self, value: Any, prefix: str, depth: int = 0) -> None:
        """Nested JSON attributes as dotted keys (`http.status_code`), as Datadog facets them."""
        if isinstance(value, Mapping) and depth < MAX_DEPTH:
            for key, inner in value.items():
                self.flatten(inner, f"{prefix}.{key}" if prefix else str(key), depth + 1)
        else:
            self.put(prefix, value)


def parse_tags(tags: str | None) -> dict[str, str]:
    """`env:prod,team:core,canary` -> {"env": "prod", "team": "core", "canary": ""}."""
    parsed: dict[str, str] = {}
    for tag in scrub_surrogates(tags or "").split(","):
        key, _, value = tag.strip().partition(":")
        if key and len(parsed) < MAX_ATTRIBUTES:
            parsed[key[:256]] = value[:MAX_ATTRIBUTE_VALUE]
    return parsed


def _tags_text(value: Any) -> str:
    if isinstance(value, list):  # webhooks and some shippers send a list of tags
        return ",".join(str(tag) for tag in value)
    return value if isinstance(value, str) else ""


def _event_time(obj: Mapping[str, Any], received: datetime) -> datetime:
    for key in _TIME_KEYS:
        value = obj.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        try:
            return parse_event_time(value, key)
        except IngestRefused:
            break  # Datadog keeps a log with an unreadable date at its intake time; so do we
    return received


def _level(status: Any, message: str) -> Level:
    text = str(status).strip().lower() if status is not None else ""
    return _STATUS_ALIASES.get(text) or Level.parse(text) or infer_level(message)


def _message(obj: Mapping[str, Any]) -> str:
    value = obj.get("message")
    if isinstance(value, str):
        return value
    if value is not None:
        return json.dumps(value, ensure_ascii=False)
    # A log without a message is still a log in Datadog: keep what it has.
    rest = {key: item for key, item in obj.items() if key not in _RESERVED}
    return json.dumps(rest, ensure_ascii=False, default=str)


def normalize_datadog_log(
    obj: Any, *, defaults: RequestDefaults, received: datetime, max_log_bytes: int
) -> LogRecord:
    """Map one Datadog log object onto a LogRecord; a message over `max_log_bytes` is truncated
    and marked, as Datadog's intake does."""
    if not isinstance(obj, Mapping):
        raise IngestRefused("invalid_record", "a log must be a JSON object")
    message, original_bytes = truncate_utf8(scrub_surrogates(_message(obj)), max_log_bytes)
    tags = parse_tags(defaults.ddtags)
    tags.update(parse_tags(_tags_text(obj.get("ddtags"))))
    attributes = _Attributes()
    for key, value in tags.items():
        attributes.put(key, value)
    for key, value in obj.items():
        if key not in _RESERVED:
            attributes.flatten(value, str(key))
    if defaults.ddsource and "ddsource" not in obj:
        attributes.put("ddsource", defaults.ddsource)
    attributes.values.update(truncation_marks(original_bytes))
    service = obj.get("service") or defaults.service or tags.get("service")
    host = obj.get("hostname") or obj.get("host") or defaults.hostname or tags.get("host")
    level = _level(obj.get("status"), message)
    return LogRecord(
        event_time=_event_time(obj, received),
        received_time=received,
        source=SOURCE,
        service=scrub_surrogates(str(service or obj.get("ddsource") or "unknown")[:1024]),
        host=scrub_surrogates(str(host)[:1024]) if host else None,
        environment=tags.get("env") or None,
        level=level,
        severity_number=level.severity_number,
        message=message,
        attributes=attributes.values,
        trace_id=attributes.values.get("dd.trace_id"),
        span_id=attributes.values.get("dd.span_id"),
    )


def normalize_datadog_webhook(obj: Any, *, received: datetime, max_log_bytes: int) -> LogRecord:
    """A monitor notification (the webhook integration's JSON payload) as one event record:
    `title` and `body` make the message, `alert_type` (or `alert_transition`) the level."""
    if not isinstance(obj, Mapping):
        raise IngestRefused("invalid_record", "a webhook payload must be a JSON object")
    title = str(obj.get("title") or obj.get("event_title") or "")
    body = str(obj.get("body") or obj.get("text") or obj.get("event_msg") or "")
    if not title and not body:
        raise IngestRefused("missing_message", "a webhook payload needs a 'title' or a 'body'")
    text = f"{title}\n{body}" if title and body else title or body
    message, original_bytes = truncate_utf8(scrub_surrogates(text), max_log_bytes)
    tags = parse_tags(_tags_text(obj.get("tags")))
    attributes = _Attributes({"kind": "webhook"})
    for key, value in tags.items():
        attributes.put(key, value)
    for key, value in obj.items():
        if key not in ("title", "body", "text", "tags", "hostname", "date"):
            attributes.flatten(value, str(key))
    attributes.values.update(truncation_marks(original_bytes))
    alert = str(obj.get("alert_type") or obj.get("alert_transition") or "").strip().lower()
    level = _ALERT_LEVELS.get(alert) or infer_level(message)
    host = obj.get("hostname")
    return LogRecord(
        event_time=_event_time({"date": obj.get("date")}, received),
        received_time=received,
        source=SOURCE,
        service=scrub_surrogates(str(tags.get("service") or "datadog-monitor")[:1024]),
        host=scrub_surrogates(str(host)[:1024]) if host else None,
        environment=tags.get("env") or None,
        level=level,
        severity_number=level.severity_number,
        message=message,
        attributes=attributes.values,
    )
