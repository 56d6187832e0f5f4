"""The one record type passed between stages and carried on the bus."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Bumped when a bus payload changes shape; consumers refuse versions they do not know.
SCHEMA_VERSION = 1


class Level(StrEnum):
    """Log levels, ordered as OpenTelemetry orders severity."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    FATAL = "fatal"

    @property
    def severity_number(self) -> int:
        """The lowest OTLP SeverityNumber of this level's range (TRACE=1 … FATAL=21)."""
        return _SEVERITY_BASE[self]

    @classmethod
    def from_severity_number(cls, number: int) -> Level:
        """Map an OTLP SeverityNumber (1-24) onto a level."""
        for level in reversed(list(cls)):
            if number >= _SEVERITY_BASE[level]:
                return level
        return cls.INFO

    @classmethod
    def parse(cls, text: str | None) -> Level | None:
        """Read a level name as applications write it (`WARNING`, `err`, `Critical` ...)."""
        if not text:
            return None
        return _LEVEL_ALIASES.get(text.strip().lower())


_SEVERITY_BASE: dict[Level, int] = {
    Level.TRACE: 1,
    Level.DEBUG: 5,
    Level.INFO: 9,
    Level.WARN: 13,
    Level.ERROR: 17,
    Level.FATAL: 21,
}

_LEVEL_ALIASES: dict[str, Level] = {
    "trace": Level.TRACE,
    "debug": Level.DEBUG,
    "dbg": Level.DEBUG,
    "info": Level.INFO,
    "information": Level.INFO,
    "informational": Level.INFO,
    "notice": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "severe": Level.ERROR,
    "fatal": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "alert": Level.FATAL,
    "emerg": Level.FATAL,
    "emergency": Level.FATAL,
    "panic": Level.FATAL,
}


def new_record_id() -> str:
    """A unique, time-ordered record id (UUIDv7, RFC 9562), assigned once at ingest."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


def utcnow() -> datetime:
    return datetime.now(UTC)


class LogRecord(BaseModel):
    """One normalized log record. Every source maps onto it; nothing downstream sees the wire
    format, only `source`."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_record_id)
    event_time: datetime
    received_time: datetime = Field(default_factory=utcnow)
    source: str  # kind of source: "http", "grpc", later "otlp", "syslog", "file" ...
    service: str = "unknown"
    host: str | None = None
    environment: str | None = None
    level: Level = Level.INFO
    severity_number: int = Level.INFO.severity_number
    message: str
    attributes: dict[str, str] = Field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    matched_rules: tuple[str, ...] = ()

    def to_bus(self) -> bytes:
        """Serialize as a versioned bus payload: `{"v": 1, "record": {...}}`, compact UTF-8 JSON.
        Pydantic's own serializer writes the record (the same bytes as json.dumps of
        model_dump(mode="json"), several times faster: every match on the hot path pays it)."""
        return b'{"v":%d,"record":%s}' % (SCHEMA_VERSION, self.model_dump_json().encode())

    @classmethod
    def from_bus(cls, payload: bytes) -> LogRecord:
        """Read a bus payload written by `to_bus`, refusing unknown schema versions."""
        body = _loads(payload)
        if body.get("v") != SCHEMA_VERSION:
            raise ValueError(f"unsupported LogRecord schema version {body.get('v')!r}")
        return cls.model_validate(body["record"])


def _loads(payload: bytes) -> dict[str, Any]:
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise ValueError("bus payload is not a JSON object")
    return body
