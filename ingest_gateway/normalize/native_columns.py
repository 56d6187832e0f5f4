"""Native JSON records normalized a whole request at a time, as Arrow columns.

The same mapping as `normalize_native`, computed per column: the body is decoded in one call
(msgspec, into typed structs), fields are coalesced, timestamps parsed and levels resolved with
vectorized operations. Only the common, well-formed shape is taken here: whatever this path
cannot map exactly as `normalize_native` does (an unusual type, a refusal, a blank line) raises
`NotColumnar`, and the caller reparses the body with the precise per-record parser, which
produces the same records or the same refusal naming the line.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.native import infer_level, parse_event_time
from loginsight.archive import ARCHIVE_SCHEMA
from loginsight.model import Level

TIMESTAMP = pa.timestamp("us", tz="UTC")
_Scalar = str | int | float | bool | None


class NotColumnar(Exception):
    """This body needs the precise per-record parser (for its records or its refusal)."""


class NativeRecord(msgspec.Struct, forbid_unknown_fields=False):
    """The fields `normalize_native` reads, typed as this path takes them; other keys ignored."""

    message: str | None = None
    msg: str | None = None
    log: str | None = None
    body: str | None = None
    ts: str | int | float | None = None
    timestamp: str | int | float | None = None
    time: str | int | float | None = None
    at_timestamp: str | int | float | None = msgspec.field(default=None, name="@timestamp")
    event_time: str | int | float | None = None
    level: _Scalar = None
    severity: _Scalar = None
    status: _Scalar = None
    levelname: _Scalar = None
    service: str | int | float | None = None
    host: str | int | float | None = None
    env: str | int | float | None = None
    trace_id: str | int | float | None = None
    span_id: str | int | float | None = None
    attrs: dict[str, str] | None = None
    attributes: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    tags: dict[str, str] | None = None


_MESSAGE_KEYS = ("message", "msg", "log", "body")
_TIME_KEYS = ("ts", "timestamp", "time", "at_timestamp", "event_time")
_LEVEL_KEYS = ("level", "severity", "status", "levelname")
_ATTR_KEYS = ("attrs", "attributes", "labels", "tags")

_NDJSON = msgspec.json.Decoder(list[NativeRecord])
# splitlines() (the precise parser's line split) also breaks at these, which JSON allows raw.
_EXTRA_LINE_BREAKS = ("\x85", "\u2028", "\u2029")
# RFC 3339 text Arrow and datetime.fromisoformat read alike; any other text goes to Python.
_RFC3339 = (
    r"^\d{4}-\d{2}-\d{2}[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?$"
)
_ZONED = r"(?:Z|[+-]\d{2}:\d{2})$"
# infer_level's pattern for ASCII text in RE2: Python's \s also matches \v and \x1c-\x1f.
_SPACE = r"[\t\n\x0b\x0c\r \x1c-\x1f]"
_NON_SPACE = r"[^\t\n\x0b\x0c\r \x1c-\x1f]"
_LEADING_LEVEL_RE2 = (
    rf"(?i)^\W{{0,3}}(?:{_NON_SPACE}+{_SPACE}+){{0,3}}?\[?(?P<level>TRACE|DEBUG|INFO|NOTICE|"
    r"WARN(?:ING)?|ERROR|ERR|SEVERE|FATAL|CRITICAL|CRIT|PANIC)\b"
)
# datetime's range in seconds from the epoch (years 1 to 9999).
_MIN_EPOCH_S, _MAX_EPOCH_S = -62_135_596_800, 253_402_300_799
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEVEL_CACHE: dict[object, str | None] = {}
# The words _LEADING_LEVEL_RE2 captures (lowercased) and the levels they name.
_LEADING_WORDS = "trace debug info notice warn warning error err severe fatal critical crit panic"
_ALIAS_WORDS = pa.array(_LEADING_WORDS.split(), pa.string())
_ALIAS_LEVELS = pa.array(
    [(Level.parse(word) or Level.INFO).value for word in _LEADING_WORDS.split()], pa.string()
)
_LEVEL_NAMES = pa.array([level.value for level in Level], pa.string())
_SEVERITIES = pa.array([level.severity_number for level in Level], pa.int32())


def decode_ndjson(text: str, max_records: int) -> list[NativeRecord]:
    """Every line of an NDJSON body as a record, in one decode call."""
    body = text.rstrip()
    if not body or any(mark in body for mark in _EXTRA_LINE_BREAKS):
        raise NotColumnar("empty body or unusual line breaks")
    if body.count("\n") >= max_records:
        raise NotColumnar("too many records")
    try:
        # Raw newlines cannot occur inside JSON strings, so each one separates two records.
        return _NDJSON.decode("[" + body.replace("\n", ",") + "]")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise NotColumnar(str(exc)) from exc


def decode_json(text: str, max_records: int) -> list[NativeRecord]:
    """A JSON body: one record, an array of records, or `{"records": [...]}`."""
    try:
        body = msgspec.json.decode(text)
        if isinstance(body, dict) and isinstance(body.get("records"), list):
            body = body["records"]
        elif isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or len(body) > max_records:
            raise NotColumnar("not an array of records within the bound")
        return msgspec.convert(body, list[NativeRecord])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise NotColumnar(str(exc)) from exc


def normalize_columns(
    records: list[NativeRecord], *, source: str, received: datetime, max_message_bytes: int
) -> pa.Table:
    """The records as an archive-schema table (ids assigned, `matched_rules` empty)."""
    count = len(records)
    if count == 0:
        raise NotColumnar("no records")
    messages = pa.array(_coalesce(records, _MESSAGE_KEYS), pa.string())
    if messages.null_count:
        raise NotColumnar("a record has no message")
    if pc.max(pc.binary_length(messages)).as_py() > max_message_bytes:
        raise NotColumnar("a message is too large")
    try:
        levels = _levels(records, messages)
        columns: dict[str, Any] = {
            "id": new_record_ids(count),
            "event_time": _event_times(_coalesce(records, _TIME_KEYS), received),
            "received_time": pa.array(np.full(count, _micros(received)), pa.int64()).cast(
                TIMESTAMP
            ),
            "source": pa.array(np.full(count, source, dtype=object), pa.string()),
            "service": _texts([r.service for r in records], "service", 1024, "unknown"),
            "host": _texts([r.host for r in records], "host", 1024, None),
            "environment": _texts([r.env for r in records], "env", 1024, None),
            "level": levels,
            "severity_number": severity_numbers(levels),
            "message": messages,
            "attributes": _attributes(records),
            "trace_id": _texts([r.trace_id for r in records], "trace_id", 64, None),
            "span_id": _texts([r.span_id for r in records], "span_id", 32, None),
            "matched_rules": pa.ListArray.from_arrays(
                pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], pa.string())
            ),
        }
    except IngestRefused as exc:
        raise NotColumnar(exc.detail) from exc
    return pa.table(columns, schema=ARCHIVE_SCHEMA)


def _coalesce(records: list[NativeRecord], keys: tuple[str, ...]) -> list[Any]:
    """The first non-null of `keys` per record, as `normalize_native`'s `_first` picks it."""
    values = [getattr(r, keys[0]) for r in records]
    if None in values:
        for key in keys[1:]:
            values = [
                getattr(r, key) if value is None else value
                for r, value in zip(records, values, strict=True)
            ]
    return values


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _event_times(values: list[Any], received: datetime) -> pa.Array:
    micros = np.full(len(values), _micros(received), dtype=np.int64)
    texts = [i for i, v in enumerate(values) if isinstance(v, str)]
    numbers = [i for i, v in enumerate(values) if isinstance(v, int | float)]
    if texts:
        micros[texts] = _text_times([values[i] for i in texts])
    if numbers:
        micros[numbers] = _epoch_times([values[i] for i in numbers])
    return pa.array(micros, pa.int64()).cast(TIMESTAMP)


def _text_times(texts: list[str]) -> np.ndarray:
    array = pa.array(texts, pa.string())
    shaped = pc.match_substring_regex(array, _RFC3339).to_numpy(zero_copy_only=False)
    out = np.zeros(len(texts), dtype=np.int64)
    if shaped.any():
        taken = array.filter(pa.array(shaped))
        zoned = pc.match_substring_regex(taken, _ZONED)
        text = pc.if_else(zoned, taken, pc.binary_join_element_wise(taken, "Z", ""))
        try:
            parsed = pc.cast(text, TIMESTAMP)
        except pa.ArrowInvalid as exc:  # a date that does not exist: Python names it
            raise NotColumnar(str(exc)) from exc
        out[shaped] = parsed.cast(pa.int64()).to_numpy()
    for index in np.flatnonzero(~shaped):
        out[index] = _micros(parse_event_time(texts[index]))
    return out


def _epoch_times(numbers: list[int | float]) -> np.ndarray:
    """Epoch numbers in s, ms, µs or ns to µs, rounded as `datetime.fromtimestamp` rounds."""
    seconds = np.asarray([float(n) for n in numbers], dtype=np.float64)
    magnitude = np.abs(seconds)
    for divisor in (1e9, 1e6, 1e3):  # the first unit whose bound is passed, as in Python
        beyond = magnitude >= divisor * 1e8
        seconds = np.where(beyond, seconds / divisor, seconds)
        magnitude = np.where(beyond, -1.0, magnitude)
    whole = np.trunc(seconds)
    fraction = np.rint((seconds - whole) * 1e6)  # round half to even, like fromtimestamp
    whole = whole + np.where(fraction >= 1e6, 1, 0) - np.where(fraction < 0, 1, 0)
    fraction = np.where(fraction >= 1e6, fraction - 1e6, fraction)
    fraction = np.where(fraction < 0, fraction + 1e6, fraction)
    if whole.min() < _MIN_EPOCH_S or whole.max() > _MAX_EPOCH_S:
        raise NotColumnar("a timestamp is out of range")
    return whole.astype(np.int64) * 1_000_000 + fraction.astype(np.int64)


def _level_of(value: object) -> str | None:
    """The Level value a level field names (`Level.parse(str(value))`), cached: levels are few."""
    if value is None:
        return None
    key = (type(value), value)
    if key not in _LEVEL_CACHE:
        if len(_LEVEL_CACHE) > 10_000:  # a flood of new values is not kept
            _LEVEL_CACHE.clear()
        level = Level.parse(str(value))
        _LEVEL_CACHE[key] = level.value if level is not None else None
    return _LEVEL_CACHE[key]


def _levels(records: list[NativeRecord], messages: pa.Array) -> pa.Array:
    """The level column: the level field, else inferred from the message as `infer_level` does."""
    named = pa.array([_level_of(value) for value in _coalesce(records, _LEVEL_KEYS)], pa.string())
    if not named.null_count:
        return named
    unknown = pc.is_null(named)
    inferred = _inferred(messages.filter(unknown))
    return pc.replace_with_mask(named, unknown, inferred)


def _inferred(messages: pa.Array) -> pa.Array:
    """`infer_level` of each message: RE2 over ASCII messages, Python over the others."""
    head = pc.utf8_slice_codeunits(messages, 0, 120)
    words = pc.utf8_lower(pc.extract_regex(head, _LEADING_LEVEL_RE2).field("level"))
    found = pc.take(_ALIAS_LEVELS, pc.index_in(words, value_set=_ALIAS_WORDS))
    levels = pc.fill_null(found, Level.INFO.value)
    ascii_rows = pc.string_is_ascii(messages)
    if pc.all(ascii_rows).as_py():
        return levels
    others = np.flatnonzero(~ascii_rows.to_numpy(zero_copy_only=False))
    texts = messages.take(pa.array(others)).to_pylist()
    python = pa.array([infer_level(text).value for text in texts], pa.string())
    mask = pc.invert(ascii_rows)
    return pc.replace_with_mask(levels, mask, python)


def severity_numbers(levels: pa.Array) -> pa.Array:
    """OTLP severity numbers of a column of Level values."""
    return pc.take(_SEVERITIES, pc.index_in(levels, value_set=_LEVEL_NAMES))


def _texts(values: list[Any], field: str, limit: int, default: str | None) -> pa.Array:
    """`_text` of normalize_native for a column: falsy values take the default."""
    if all(type(v) is str and v for v in values):
        array = pa.array(values, pa.string())
        if pc.max(pc.utf8_length(array)).as_py() > limit:
            raise NotColumnar(f"{field} is too long")
        return array
    out: list[str | None] = []
    for value in values:
        if not value:
            out.append(default)
        elif isinstance(value, bool) or len(str(value)) > limit:
            raise NotColumnar(f"{field} is not a short string")
        else:
            out.append(str(value))
    return pa.array(out, pa.string())


def _attributes(records: list[NativeRecord]) -> pa.Array:
    found = _coalesce(records, _ATTR_KEYS)
    if all(value is None for value in found):
        offsets = pa.array(np.zeros(len(records) + 1, dtype=np.int32))
        empty = pa.array([], pa.string())
        return pa.MapArray.from_arrays(offsets, empty, empty)
    if any(len(key) > 256 for value in found if value for key in value):
        raise NotColumnar("an attribute key is long")
    return pa.array(
        [list(value.items()) if value else [] for value in found],
        pa.map_(pa.string(), pa.string()),
    )


def new_record_ids(count: int) -> pa.Array:
    """`count` UUIDv7 ids as `new_record_id` makes them, generated together."""
    millis = time.time_ns() // 1_000_000
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, :6] = np.frombuffer((millis & (2**48 - 1)).to_bytes(6, "big"), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant 10
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((count, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 0x0F]
    dash = np.full((count, 1), ord("-"), dtype=np.uint8)
    text = np.hstack(
        [
            hexed[:, :8],
            dash,
            hexed[:, 8:12],
            dash,
            hexed[:, 12:16],
            dash,
            hexed[:, 16:20],
            dash,
            hexed[:, 20:],
        ]
    )
    offsets = np.arange(0, 36 * count + 1, 36, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))
