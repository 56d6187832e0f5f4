"""Normalize Grafana Loki push streams: a label set (`{app="api", level="error"}`) and its
entries (nanosecond timestamp, line, optional structured metadata)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import infer_level
from ingest_gateway.normalize.text import scrub_surrogates, truncate_utf8, truncation_marks
from loginsight.model import Level, LogRecord

SOURCE = "loki"

# Labels (or structured metadata) that carry a LogRecord field, first match wins.
SERVICE_LABELS = ("service_name", "service", "app", "job")
LEVEL_LABELS = ("level", "detected_level", "severity")
HOST_LABELS = ("host", "hostname", "instance")
ENVIRONMENT_LABELS = ("env", "environment", "deployment_environment")

# One `name="value"` pair of a Prometheus-style label set; the value is a Go-quoted string.
_LABEL_PAIR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)', re.S)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, code)

    return _ESCAPE.sub(replace, value) if "\\" in value else value


def parse_labels(text: str) -> dict[str, str]:
    """`{app="api", msg="say \\"hi\\""}` -> {"app": "api", "msg": 'say "hi"'}."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        raise IngestRefused(
            "invalid_labels", f'labels must be {{name="value", ...}}: {text[:80]!r}'
        )
    inner = stripped[1:-1]
    labels: dict[str, str] = {}
    position = 0
    while inner[position:].strip():
        match = _LABEL_PAIR.match(inner, position)
        if match is None:
            raise IngestRefused(
                "invalid_labels", f"cannot read labels at character {position + 2}: {text[:80]!r}"
            )
        labels[match.group(1)] = _unescape(match.group(2))
        position = match.end()
    return labels


def parse_ns_timestamp(value: object) -> datetime:
    """A Loki entry timestamp: nanoseconds since the epoch, as a decimal string."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not text.isdigit() or len(text) > 20:
        raise IngestRefused("invalid_timestamp", f"timestamp {str(value)[:40]!r} is not epoch ns")
    return from_unix_nanos(int(text))


def from_unix_nanos(nanos: int) -> datetime:
    try:
        return datetime.fromtimestamp(nanos / 1e9, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise IngestRefused("invalid_timestamp", f"timestamp {nanos} out of range") from exc


def _first(keys: tuple[str, ...], *sources: Mapping[str, str]) -> str | None:
    for source in sources:
        for key in keys:
            if source.get(key):
                return source[key]
    return None


@dataclass(frozen=True)
class Stream:
    """One stream's labels, read once for all its entries (labels and metadata hold no lone
    surrogates: the sources replace them as they decode)."""

    labels: Mapping[str, str]
    tenant: str | None = None

    def record(
        self,
        when: datetime,
        line: str,
        metadata: Mapping[str, str],
        received: datetime,
        max_line_bytes: int,
    ) -> LogRecord:
        message, original = truncate_utf8(scrub_surrogates(line), max_line_bytes)
        attributes = {**self.labels, **metadata, **truncation_marks(original)}
        if self.tenant:
            attributes["tenant"] = self.tenant
        level_name = _first(LEVEL_LABELS, metadata, self.labels)
        level = Level.parse(level_name) or infer_level(message)
        host = _first(HOST_LABELS, self.labels, metadata)
        return LogRecord(
            event_time=when,
            received_time=received,
            source=SOURCE,
            service=(_first(SERVICE_LABELS, self.labels, metadata) or "unknown")[:1024],
            host=host[:1024] if host else None,
            environment=_first(ENVIRONMENT_LABELS, self.labels, metadata),
            level=level,
            severity_number=level.severity_number,
            message=message,
            attributes=attributes,
            trace_id=metadata.get("trace_id") or None,
            span_id=metadata.get("span_id") or None,
        )
