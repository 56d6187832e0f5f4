"""The columnar syslog path gives exactly the table of the precise per-frame path (ids aside)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa

from ingest_gateway.normalize.syslog_columns import frames_to_table
from ingest_gateway.sinks.archive import records_to_table
from ingest_gateway.sources.syslog import Frame, build_records

RECEIVED = datetime(2026, 3, 15, 12, 0, 0, 123456, tzinfo=UTC)

FAST_SHAPED = [
    b"<134>1 2025-06-01T12:00:01.000123Z web-1 nginx 4242 ACCESS - GET / 200",
    b"<11>1 2025-06-01T12:00:01Z host app - - - java.lang.NullPointerException at X",
    b"<0>1 2025-06-01T12:00:01+02:00 h a p m - emergency: disk gone\r\n",
    b"<191>1 2025-06-01T12:00:01.5-07:30 h a p m - local7 debug",
    b"<013>1 2025-06-01T12:00:01 h a p m - no zone is UTC",
    b"<165>1 - - - - - - every header field nil",
    b"<165>1 2025-06-01t12:00:01z h a p m - lowercase t and z",
    b"<165>1 2025-06-01T12:00:01.1234567Z h a p m - seven fraction digits",
    b"<165>1 2025-02-30T12:00:01Z h a p m - a date that does not exist",
    b"<165>1 yesterday h a p m - not a timestamp",
    b"<165>1 2025-06-01T12:00:01Z h a p m - ",
    b"<165>1 2025-06-01T12:00:01Z h a p m -   \t spaces\x1c around \x0b ",
    b"<165>1 2025-06-01T12:00:01Z h a p m - two\nlines",
    b"<165>1 2025-06-01T12:00:01Z " + b"h" * 1500 + b" " + b"a" * 1100 + b" p m - long fields",
    b"<165>1 2025-06-01T12:00:01Z h a p m - trailing NUL\x00",
]
OTHER = [
    b"<192>1 2025-06-01T12:00:01Z h a p m - PRI too large: raw",
    b"<1000>1 2025-06-01T12:00:01Z h a p m - four digits: raw",
    b'<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 [ex@32473 iut="3"] with SD',
    b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - \xef\xbb\xbf'su root' failed",
    b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
    b"<13>1 2025-06-01T12:00:01Z h a p m -no space after nil",
    b"<13>1 2025-06-01T12:00:01Z h a p m -",
    b"<13>1 2025-06-01T12:00:01Z h a p m - caf\xc3\xa9 non-ASCII",
    b"<13>1 2025-06-01T12:00:01Z h a p m - invalid \xff\xfe UTF-8",
    b"<13>1 2025-06-01T12:00:01Z h\xc2\xa0x a p m - NBSP inside a field",
    b"plain text, no PRI",
    b"",
    b"\r\n",
    b"\x00 \x00",
    b"   ",
]


def both_ways(frames: list[Frame]) -> tuple[pa.Table, pa.Table]:
    columns = frames_to_table(frames, RECEIVED, "tcp", build_records)
    precise = records_to_table(build_records(frames, RECEIVED, "tcp"))
    return columns, precise


def assert_same(columns: pa.Table, precise: pa.Table) -> None:
    assert columns.schema == precise.schema
    assert columns.num_rows == precise.num_rows
    assert len(set(columns["id"].to_pylist())) == columns.num_rows  # every id is new
    for name in precise.column_names:
        if name != "id":
            assert columns[name].to_pylist() == precise[name].to_pylist(), name


def test_every_shape_alone_matches_the_precise_path() -> None:
    for data in FAST_SHAPED + OTHER:
        assert_same(*both_ways([Frame(data)]))


def test_mixed_batches_keep_arrival_order() -> None:
    pool = [Frame(data) for data in FAST_SHAPED + OTHER]
    pool.append(Frame(b"<165>1 2025-06-01T12:00:01Z h a p m - cut here", truncated=True))
    rng = random.Random(7)
    for _ in range(20):
        batch = [rng.choice(pool) for _ in range(rng.randint(1, 60))]
        assert_same(*both_ways(batch))


def test_the_common_shape_takes_the_columnar_path() -> None:
    frames = [Frame(data) for data in FAST_SHAPED]
    columns, _ = both_ways(frames)
    attributes = dict(columns["attributes"][0].as_py())
    assert attributes == {
        "syslog.format": "rfc5424",
        "syslog.transport": "tcp",
        "syslog.facility": "local0",
        "syslog.severity": "info",
        "syslog.app_name": "nginx",
        "syslog.procid": "4242",
        "syslog.msgid": "ACCESS",
    }
    assert columns["service"][1].as_py() == "app"
    assert columns["level"][1].as_py() == "error"
    assert columns["host"][13].as_py() == "h" * 1024  # fields are cut at 1,024 characters


def test_no_frames_and_only_blank_frames_make_an_empty_table() -> None:
    assert frames_to_table([], RECEIVED, "udp", build_records).num_rows == 0
    blank = [Frame(b""), Frame(b"\r\n"), Frame(b"   ")]
    assert frames_to_table(blank, RECEIVED, "udp", build_records).num_rows == 0
