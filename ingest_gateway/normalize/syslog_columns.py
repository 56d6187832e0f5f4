"""Syslog frames normalized a batch at a time, as Arrow columns.

The common shape, RFC 5424 in ASCII with nil structured data (`<PRI>1 TS HOST APP PROCID MSGID -
MSG`, what rsyslog, syslog-ng and most agents send), is parsed for the whole batch by one RE2
expression and mapped with vectorized operations. Every other frame (RFC 3164, structured data,
non-ASCII or invalid UTF-8, truncated, empty, raw) takes the precise per-frame path
(`build_records`), and both parts are joined back in arrival order. The result is the table
`records_to_table(build_records(frames))` would give, ids aside, only faster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest_gateway.normalize.native_columns import new_record_ids, severity_numbers
from ingest_gateway.normalize.syslog import (
    _SEVERITY_LEVELS,
    FACILITIES,
    MAX_FIELD_CHARS,
    SEVERITIES,
    _rfc3339,
    decode_frame,
)
from ingest_gateway.sinks.archive import records_to_table
from loginsight.archive import ARCHIVE_SCHEMA
from loginsight.model import LogRecord

TIMESTAMP = pa.timestamp("us", tz="UTC")
# Python's str.split()/strip() whitespace within ASCII; RE2's \s lacks \v and \x1c-\x1f.
_ASCII_SPACE = "\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f"
_FIELD = r"([^\t\n\x0b\x0c\r \x1c-\x1f]+)"
# After `1 `: the header of _RFC5424_HEADER, then nil structured data and the message.
_FAST_NAMES = ["pri", "timestamp", "hostname", "app_name", "procid", "msgid", "message"]
# PRI 0-191 (leading zeros allowed, as int() reads them); above is no syslog message (kept raw).
_PRI = r"(?P<pri>19[01]|1[0-8]\d|0\d\d|\d\d?)"
_FAST_PATTERN = f"(?s)^<{_PRI}>1 " + " ".join(
    f"(?P<{name}>{_FIELD[1:-1]})" for name in _FAST_NAMES[1:6]
) + " - (?P<message>.*)$"  # fmt: skip
# RFC 3339 text that Arrow's cast and datetime.fromisoformat read alike.
_RFC3339 = (
    r"^\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?$"
)
_ZONED = r"(?:Z|[+-]\d{2}:\d{2})$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FACILITY_NAMES = pa.array(FACILITIES, pa.string())
_SEVERITY_NAMES = pa.array(SEVERITIES, pa.string())
_SEVERITY_LEVEL_VALUES = pa.array([level.value for level in _SEVERITY_LEVELS], pa.string())


class FrameLike(Protocol):
    @property
    def data(self) -> bytes: ...

    @property
    def truncated(self) -> bool: ...


RecordBuilder = Callable[[Sequence[Any], datetime, str], list[LogRecord]]


def frames_to_table(
    frames: Sequence[FrameLike],
    received: datetime,
    transport: str,
    build_records: RecordBuilder,
    source: str = "syslog",
) -> pa.Table:
    """An archive-schema table of `frames` (ids assigned, `matched_rules` empty), in order;
    `build_records` is the precise per-frame path for the frames the columns cannot take."""
    fast_rows, fields = _fast_rows(frames)
    parts: list[tuple[np.ndarray, pa.Table]] = []
    if len(fast_rows):
        parts.append((fast_rows, _fast_table(fields, received, transport, source)))
    slow = np.setdiff1d(np.arange(len(frames)), fast_rows, assume_unique=True)
    if len(slow):
        records = build_records([frames[int(i)] for i in slow], received, transport)
        if records:
            # build_records makes no record of a blank frame: the others keep their places.
            kept = np.asarray(
                [i for i in slow if decode_frame(frames[int(i)].data).strip()], np.int64
            )
            parts.append((kept, records_to_table(records)))
    if not parts:
        return ARCHIVE_SCHEMA.empty_table()
    if len(parts) == 1:
        return parts[0][1]
    order = np.argsort(np.concatenate([rows for rows, _ in parts]), kind="stable")
    return pa.concat_tables([table for _, table in parts]).take(pa.array(order))


def _fast_rows(frames: Sequence[FrameLike]) -> tuple[np.ndarray, pa.StructArray]:
    """The rows the columns take (whole, ASCII, the fast shape) and their parsed fields."""
    candidates = np.flatnonzero(
        np.fromiter(
            (not f.truncated and f.data.isascii() for f in frames), dtype=bool, count=len(frames)
        )
    )
    if not len(candidates):
        return candidates, pc.extract_regex(pa.array([], pa.string()), _FAST_PATTERN)
    texts = pa.array([frames[int(i)].data for i in candidates], pa.binary()).cast(pa.string())
    texts = pc.utf8_rtrim(texts, characters="\x00\r\n")
    parts = pc.extract_regex(texts, _FAST_PATTERN)  # null where the shape differs
    shaped = parts.is_valid()
    return candidates[shaped.to_numpy(zero_copy_only=False)], parts.filter(shaped)


def _fast_table(parts: pa.StructArray, received: datetime, transport: str, source: str) -> pa.Table:
    pri = pc.cast(parts.field("pri"), pa.int32())
    facility = pc.divide(pri, 8)
    severity = pc.subtract(pri, pc.multiply(facility, 8))
    fields = {name: _nil(parts.field(name)) for name in _FAST_NAMES[1:6]}
    hostname, app_name = fields["hostname"], fields["app_name"]
    count = len(parts)
    levels = pc.take(_SEVERITY_LEVEL_VALUES, severity)
    columns = {
        "id": new_record_ids(count),
        "event_time": _event_times(fields["timestamp"], received),
        "received_time": pa.array(np.full(count, _micros(received)), pa.int64()).cast(TIMESTAMP),
        "source": pa.array(np.full(count, source, dtype=object), pa.string()),
        "service": pc.coalesce(app_name, hostname, pa.scalar("unknown")),
        "host": hostname,
        "environment": pa.nulls(count, pa.string()),
        "level": levels,
        "severity_number": severity_numbers(levels),
        "message": pc.utf8_trim(parts.field("message"), characters=_ASCII_SPACE),
        "attributes": _attributes(
            count,
            {
                "syslog.format": pa.array(np.full(count, "rfc5424", dtype=object), pa.string()),
                "syslog.transport": pa.array(np.full(count, transport, dtype=object), pa.string()),
                "syslog.facility": pc.take(_FACILITY_NAMES, facility),
                "syslog.severity": pc.take(_SEVERITY_NAMES, severity),
                "syslog.app_name": app_name,
                "syslog.procid": fields["procid"],
                "syslog.msgid": fields["msgid"],
            },
        ),
        "trace_id": pa.nulls(count, pa.string()),
        "span_id": pa.nulls(count, pa.string()),
        "matched_rules": pa.ListArray.from_arrays(
            pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], pa.string())
        ),
    }
    return pa.table(columns, schema=ARCHIVE_SCHEMA)


def _nil(values: pa.Array) -> pa.Array:
    """ "-" is nil (null); a field is cut at MAX_FIELD_CHARS (ASCII: characters are bytes)."""
    cut = pc.utf8_slice_codeunits(values, 0, MAX_FIELD_CHARS)
    return pc.if_else(pc.equal(values, "-"), pa.scalar(None, pa.string()), cut)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _event_times(stamps: pa.Array, received: datetime) -> pa.Array:
    """The timestamp as `_rfc3339` reads it; the received time where it is nil or unreadable."""
    micros = np.full(len(stamps), _micros(received), dtype=np.int64)
    present = pc.is_valid(stamps).to_numpy(zero_copy_only=False)
    shaped = pc.fill_null(pc.match_substring_regex(stamps, _RFC3339), False)
    shaped_rows = shaped.to_numpy(zero_copy_only=False)
    if shaped_rows.any():
        taken = stamps.filter(shaped)
        zoned = pc.match_substring_regex(taken, _ZONED)
        text = pc.if_else(zoned, taken, pc.binary_join_element_wise(taken, "Z", ""))
        try:
            micros[shaped_rows] = pc.cast(text, TIMESTAMP).cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # a date that does not exist: Python decides, row by row
            shaped_rows = np.zeros(len(stamps), dtype=bool)
    values = stamps.to_pylist() if (present & ~shaped_rows).any() else []
    for row in np.flatnonzero(present & ~shaped_rows):
        parsed = _rfc3339(values[row])
        if parsed is not None:
            micros[row] = _micros(parsed.astimezone(UTC))
    return pa.array(micros, pa.int64()).cast(TIMESTAMP)


def _attributes(count: int, columns: dict[str, pa.Array]) -> pa.MapArray:
    """A map column with one entry per non-null value, in the order of `columns`."""
    width = len(columns)
    values = pa.concat_arrays([column.cast(pa.string()) for column in columns.values()])
    # Row-major: row r's entries are r, r + count, r + 2 * count ... in the concatenation.
    order = (np.arange(count)[:, None] + np.arange(width)[None, :] * count).ravel()
    values = values.take(pa.array(order))
    keys = pa.array(np.tile(np.array(list(columns), dtype=object), count), pa.string())
    valid = pc.is_valid(values)
    per_row = valid.to_numpy(zero_copy_only=False).reshape(count, width).sum(axis=1)
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    return pa.MapArray.from_arrays(pa.array(offsets), keys.filter(valid), values.filter(valid))
