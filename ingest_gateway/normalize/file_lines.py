"""Lines of a tailed file into records: multi-line joining (stack traces) and normalization.

A line matching the start pattern begins a record; any other line continues the record before
it. A line that is a JSON object is read like the native format; anything else is plain text,
its level inferred from its first words and its time from a leading timestamp when it has one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest_gateway import telemetry
from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import infer_level, normalize_native
from loginsight.model import LogRecord

SOURCE = "file"

# "2024-05-01T12:00:00.123Z", "[2024-05-01 12:00:00,123]", "2024-05-01 12:00:00+02:00" ...
_LEADING_TIMESTAMP = re.compile(
    r"^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)"
)


@dataclass(frozen=True)
class JoinedRecord:
    """The text of one record and the byte offset just past its last line."""

    text: str
    end: int
    truncated: bool = False


class MultilineJoiner:
    """Splits bytes read from a file into records of one or more lines."""

    def __init__(self, start_pattern: str, max_lines: int, max_bytes: int) -> None:
        self.start = re.compile(start_pattern)
        self.max_lines = max_lines
        self.max_bytes = max_bytes

    def split(self, data: bytes, *, complete: bool) -> tuple[list[JoinedRecord], int]:
        """The records wholly inside `data`, and the number of bytes they span.

        Without `complete`, the last record stays open (its continuation lines may still be
        coming) and an unterminated last line is left alone; with it, both count as finished.
        """
        records: list[JoinedRecord] = []
        consumed = 0
        group = _Group()
        pos = 0
        while pos < len(data):
            newline = data.find(b"\n", pos)
            if newline < 0 and not complete:
                break
            end = len(data) if newline < 0 else newline + 1
            raw = data[pos:end]
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if group.lines and (
                len(group.lines) >= self.max_lines or self.start.match(line) is not None
            ):
                records.append(group.record())
                consumed = group.end
                group = _Group()
            group.add(line, len(raw), end, self.max_bytes)
            pos = end
        if group.lines and complete and pos >= len(data):
            records.append(group.record())
            consumed = group.end
        return [r for r in records if r.text], consumed


class _Group:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.end = 0
        self.truncated = False

    def add(self, line: str, raw_size: int, end: int, max_bytes: int) -> None:
        room = max_bytes - self.size
        if raw_size > room:
            self.truncated = True
            line = line.encode("utf-8")[: max(room, 0)].decode("utf-8", errors="ignore")
            raw_size = max(room, 0)
        if line or not self.truncated:
            self.lines.append(line)
        self.size += raw_size
        self.end = end

    def record(self) -> JoinedRecord:
        return JoinedRecord("\n".join(self.lines).rstrip(), self.end, self.truncated)


def _leading_time(text: str) -> datetime | None:
    match = _LEADING_TIMESTAMP.match(text)
    if match is None:
        return None
    try:
        parsed = datetime.fromisoformat(match.group(1).replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    # An application's naive timestamp is the local time of the machine writing the file.
    return parsed if parsed.tzinfo else parsed.astimezone(UTC)


def _json_record(text: str, service: str, received: datetime, max_bytes: int) -> LogRecord | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if not obj.get("service"):
        obj["service"] = service
    try:
        return normalize_native(obj, source=SOURCE, received=received, max_message_bytes=max_bytes)
    except IngestRefused:
        return None


def file_record(
    joined: JoinedRecord, *, path: str, service: str, host: str, received: datetime, max_bytes: int
) -> LogRecord:
    """The LogRecord of one joined record read from `path`."""
    attributes = {"file.path": path}
    if joined.truncated:
        attributes["truncated"] = "true"
        telemetry.RECORDS_TRUNCATED.labels(source=SOURCE).inc()
    if joined.text.startswith("{"):
        record = _json_record(joined.text, service, received, max_bytes)
        if record is not None:
            return record.model_copy(
                update={
                    "host": record.host or host,
                    "attributes": {**record.attributes, **attributes},
                }
            )
        telemetry.PARSE_FALLBACK.labels(source=SOURCE).inc()
    level = infer_level(joined.text)
    return LogRecord(
        event_time=_leading_time(joined.text) or received,
        received_time=received,
        source=SOURCE,
        service=service,
        host=host,
        level=level,
        severity_number=level.severity_number,
        message=joined.text,
        attributes=attributes,
    )
