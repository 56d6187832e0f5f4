"""normalize_native: native JSON objects onto LogRecord, and the LogRecord model itself."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import normalize_native
from loginsight.model import SCHEMA_VERSION, Level, LogRecord, new_record_id

RECEIVED = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # epoch 1_700_000_000


def norm(obj: Any, max_message_bytes: int = 1024) -> LogRecord:
    return normalize_native(
        obj, source="http", received=RECEIVED, max_message_bytes=max_message_bytes
    )


# ------------------------------------------------------------------------------ field aliases


@pytest.mark.parametrize("key", ["ts", "timestamp", "time", "@timestamp"])
def test_time_field_aliases(key: str) -> None:
    record = norm({key: "2024-01-02T03:04:05Z", "message": "hello"})
    assert record.event_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.received_time == RECEIVED


def test_first_time_alias_wins() -> None:
    record = norm({"timestamp": "2020-01-01T00:00:00Z", "ts": 1_700_000_000, "message": "m"})
    assert record.event_time == T0


@pytest.mark.parametrize("key", ["message", "msg"])
def test_message_field_aliases(key: str) -> None:
    record = norm({key: "disk almost full"})
    assert record.message == "disk almost full"


def test_message_preferred_over_msg() -> None:
    assert norm({"msg": "second", "message": "first"}).message == "first"


@pytest.mark.parametrize("key", ["level", "severity"])
def test_level_field_aliases(key: str) -> None:
    record = norm({"message": "all good", key: "warn"})
    assert record.level is Level.WARN
    assert record.severity_number == 13


def test_attrs_and_other_fields() -> None:
    record = norm(
        {
            "message": "m",
            "service": "checkout",
            "host": "web-1",
            "env": "prod",
            "attrs": {"region": "eu", "attempt": 3},
            "trace_id": "abc123",
            "span_id": "def",
        }
    )
    assert record.service == "checkout"
    assert record.host == "web-1"
    assert record.environment == "prod"
    assert record.attributes == {"region": "eu", "attempt": "3"}
    assert (record.trace_id, record.span_id) == ("abc123", "def")
    assert record.source == "http"


def test_defaults_when_fields_absent() -> None:
    record = norm({"message": "plain"})
    assert record.service == "unknown"
    assert record.host is None and record.environment is None
    assert record.attributes == {}
    assert record.level is Level.INFO
    assert record.matched_rules == ()


# --------------------------------------------------------------------------------- event time


@pytest.mark.parametrize(
    "value",
    [
        1_700_000_000,  # seconds
        1_700_000_000.0,
        1_700_000_000_000,  # milliseconds
        1_700_000_000_000_000,  # microseconds
        1_700_000_000_000_000_000,  # nanoseconds
    ],
)
def test_epoch_units_told_apart_by_magnitude(value: float) -> None:
    assert norm({"ts": value, "message": "m"}).event_time == T0


def test_epoch_milliseconds_keep_fraction() -> None:
    record = norm({"ts": 1_700_000_000_250, "message": "m"})
    assert record.event_time == T0 + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T12:30:00Z", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01T12:30:00z", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01T14:30:00+02:00", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01T07:30:00.250-05:00", datetime(2024, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC)),
        ("2024-03-01T12:30:00.123456Z", datetime(2024, 3, 1, 12, 30, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_rfc3339_with_zone(text: str, expected: datetime) -> None:
    event_time = norm({"ts": text, "message": "m"}).event_time
    assert event_time == expected
    assert event_time.utcoffset() is not None


def test_offset_is_kept_as_the_same_instant() -> None:
    event_time = norm({"ts": "2024-03-01T14:30:00+02:00", "message": "m"}).event_time
    assert event_time.utcoffset() == timedelta(hours=2)
    assert event_time.astimezone(UTC) == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def test_naive_time_is_utc() -> None:
    event_time = norm({"ts": "2024-03-01T12:30:00", "message": "m"}).event_time
    assert event_time.tzinfo is not None
    assert event_time.utcoffset() == timedelta(0)
    assert event_time == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    assert event_time != datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=1)))


def test_missing_time_is_received_time() -> None:
    record = norm({"message": "m"})
    assert record.event_time == RECEIVED == record.received_time


def test_null_time_is_received_time() -> None:
    assert norm({"ts": None, "message": "m"}).event_time == RECEIVED


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", True, [1], {"s": 1}, 1e30])
def test_bad_timestamps_refused(value: Any) -> None:
    with pytest.raises(IngestRefused) as refused:
        norm({"ts": value, "message": "m"})
    assert refused.value.reason == "invalid_timestamp"
    assert refused.value.status == 400


# ---------------------------------------------------------------------------------------- level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("WARNING", Level.WARN),
        ("warn", Level.WARN),
        ("err", Level.ERROR),
        ("ERROR", Level.ERROR),
        ("Critical", Level.FATAL),
        ("fatal", Level.FATAL),
        ("  Info ", Level.INFO),
        ("dbg", Level.DEBUG),
        ("trace", Level.TRACE),
    ],
)
def test_level_aliases(text: str, level: Level) -> None:
    record = norm({"message": "nothing to see", "level": text})
    assert record.level is level
    assert record.severity_number == level.severity_number


@pytest.mark.parametrize(
    ("message", "level"),
    [
        ("ERROR db down", Level.ERROR),
        ("[warn] x", Level.WARN),
        ("2024-03-01 12:00:00 FATAL out of memory", Level.FATAL),
        ("debug: cache miss", Level.DEBUG),
        ("request served in 3ms", Level.INFO),
    ],
)
def test_level_inferred_from_message_when_missing(message: str, level: Level) -> None:
    assert norm({"message": message}).level is level


def test_unknown_level_text_falls_back_to_inference() -> None:
    assert norm({"message": "ERROR db down", "level": "verbose"}).level is Level.ERROR


def test_given_level_wins_over_message() -> None:
    assert norm({"message": "ERROR in a test fixture name", "level": "info"}).level is Level.INFO


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "obj", [{"level": "error"}, {"message": None, "ts": 1}, {"text": "not a message key"}]
)
def test_missing_message_refused(obj: dict[str, Any]) -> None:
    with pytest.raises(IngestRefused) as refused:
        norm(obj)
    assert refused.value.reason == "missing_message"
    assert refused.value.status == 400


def test_oversized_message_refused_with_413() -> None:
    assert norm({"message": "x" * 10}, max_message_bytes=10).message == "x" * 10
    with pytest.raises(IngestRefused) as refused:
        norm({"message": "x" * 11}, max_message_bytes=10)
    assert refused.value.reason == "record_too_large"
    assert refused.value.status == 413


def test_message_limit_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(IngestRefused) as refused:
        norm({"message": "é" * 6}, max_message_bytes=10)  # 6 characters, 12 bytes
    assert refused.value.status == 413


@pytest.mark.parametrize("obj", [[{"message": "m"}], "message", 42, None, True])
def test_non_object_refused(obj: Any) -> None:
    with pytest.raises(IngestRefused) as refused:
        norm(obj)
    assert refused.value.reason == "invalid_record"
    assert refused.value.status == 400


def test_attrs_not_an_object_refused() -> None:
    with pytest.raises(IngestRefused) as refused:
        norm({"message": "m", "attrs": ["a", "b"]})
    assert refused.value.reason == "invalid_field"


def test_service_not_text_refused() -> None:
    with pytest.raises(IngestRefused) as refused:
        norm({"message": "m", "service": {"name": "x"}})
    assert refused.value.reason == "invalid_field"


# ------------------------------------------------------------------------- OTLP severity numbers


@pytest.mark.parametrize(
    ("number", "level"),
    [
        (1, Level.TRACE),
        (4, Level.TRACE),
        (5, Level.DEBUG),
        (8, Level.DEBUG),
        (9, Level.INFO),
        (12, Level.INFO),
        (13, Level.WARN),
        (16, Level.WARN),
        (17, Level.ERROR),
        (20, Level.ERROR),
        (21, Level.FATAL),
        (24, Level.FATAL),
    ],
)
def test_level_from_severity_number(number: int, level: Level) -> None:
    assert Level.from_severity_number(number) is level


def test_severity_number_is_the_base_of_each_range() -> None:
    bases = {level: level.severity_number for level in Level}
    assert bases == {
        Level.TRACE: 1,
        Level.DEBUG: 5,
        Level.INFO: 9,
        Level.WARN: 13,
        Level.ERROR: 17,
        Level.FATAL: 21,
    }
    assert all(Level.from_severity_number(number) is level for level, number in bases.items())


# ------------------------------------------------------------------------------ LogRecord model


def test_bus_round_trip() -> None:
    record = norm(
        {
            "ts": "2024-03-01T12:30:00.5Z",
            "message": "naïve café ERROR ✓",
            "service": "svc",
            "level": "error",
            "attrs": {"k": "v"},
            "trace_id": "t",
        }
    ).model_copy(update={"matched_rules": ("error", "error_level")})
    payload = record.to_bus()
    body = json.loads(payload)
    assert body["v"] == SCHEMA_VERSION
    back = LogRecord.from_bus(payload)
    assert back == record
    assert back.matched_rules == ("error", "error_level")
    assert back.event_time == datetime(2024, 3, 1, 12, 30, 0, 500_000, tzinfo=UTC)


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 0, None, "1"])
def test_unknown_schema_version_refused(version: Any) -> None:
    body = json.loads(norm({"message": "m"}).to_bus())
    body["v"] = version
    with pytest.raises(ValueError, match="schema version"):
        LogRecord.from_bus(json.dumps(body).encode())


def test_bus_payload_must_be_an_object() -> None:
    with pytest.raises(ValueError):
        LogRecord.from_bus(b"[1, 2]")


def test_record_ids_unique_uuid7_and_time_ordered() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [new_record_id() for _ in range(2000)]
    after_ms = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(value) for value in ids]
    assert all(u.version == 7 for u in parsed)
    assert all(u.variant == uuid.RFC_4122 for u in parsed)
    millis = [u.int >> 80 for u in parsed]
    assert all(before_ms <= m <= after_ms for m in millis)
    assert millis == sorted(millis)  # the 48-bit time prefix never goes backwards


def test_record_ids_from_later_milliseconds_sort_later() -> None:
    earlier = new_record_id()
    start_ms = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 <= start_ms + 1:  # step into a later millisecond
        pass
    later = new_record_id()
    assert earlier < later  # as plain strings: the time prefix leads
    assert uuid.UUID(earlier).int >> 80 < uuid.UUID(later).int >> 80


def test_records_get_distinct_ids() -> None:
    a, b = norm({"message": "m"}), norm({"message": "m"})
    assert a.id != b.id
    assert uuid.UUID(a.id).version == 7
