"""Syslog parsing (RFC 5424, RFC 3164) and TCP framing (RFC 6587), unit by unit.

The examples marked "RFC" are the RFCs' own, byte for byte.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ingest_gateway.normalize.syslog import decode_frame, level_of, parse_syslog, to_record
from ingest_gateway.sources.syslog import Frame, SyslogFramer, build_records
from loginsight.model import Level
from loginsight.settings import FileTailSettings, SyslogSettings

RECEIVED = datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)


def test_rfc5424_example_with_bom_and_nil_values() -> None:
    # RFC 5424 section 6.5, example 1: no structured data, nil PROCID, a BOM before MSG.
    text = decode_frame(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8"
    )
    message = parse_syslog(text, RECEIVED)
    assert message.format == "rfc5424"
    assert (message.facility, message.severity) == (4, 2)
    assert message.timestamp == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (message.hostname, message.app_name, message.procid, message.msgid) == (
        "mymachine.example.com",
        "su",
        None,
        "ID47",
    )
    assert message.structured_data == {}
    assert message.message == "'su root' failed for lonvick on /dev/pts/8"

    record = to_record(message, received=RECEIVED)
    assert (record.source, record.service, record.host) == ("syslog", "su", "mymachine.example.com")
    assert record.level is Level.FATAL  # severity 2 (crit)
    assert record.attributes["syslog.facility"] == "auth"
    assert record.attributes["syslog.severity"] == "crit"
    assert record.attributes["syslog.msgid"] == "ID47"
    assert "syslog.procid" not in record.attributes


def test_rfc5424_structured_data_becomes_attributes() -> None:
    # RFC 5424 section 6.5, example 3, plus an escaped value.
    text = (
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 "
        'iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]'
        ' [x="1"] means nothing'
    )
    message = parse_syslog(text, RECEIVED)
    assert message.structured_data == {
        "exampleSDID@32473.iut": "3",
        "exampleSDID@32473.eventSource": "Application",
        "exampleSDID@32473.eventID": "1011",
        "examplePriority@32473.class": "high",
    }
    assert message.message == '[x="1"] means nothing'
    record = to_record(message, received=RECEIVED)
    assert record.attributes["syslog.sd.exampleSDID@32473.eventID"] == "1011"
    assert record.attributes["syslog.facility"] == "local4"
    assert record.level is Level.INFO  # severity 5 (notice)

    escaped = parse_syslog(r'<13>1 - h a - - [q@1 v="say \"hi\" \\ \] end"] body', RECEIVED)
    assert escaped.structured_data == {"q@1.v": 'say "hi" \\ ] end'}
    assert escaped.message == "body"
    assert escaped.timestamp is None


def test_rfc5424_without_message_and_with_offset_time() -> None:
    message = parse_syslog(
        "<14>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - -", RECEIVED
    )
    assert message.message == ""
    assert message.procid == "8710"
    assert message.timestamp is not None
    assert message.timestamp.utcoffset() is not None
    assert message.timestamp.astimezone(UTC) == datetime(2003, 8, 24, 12, 14, 15, 3, tzinfo=UTC)


def test_rfc5424_malformed_structured_data_is_kept_in_the_message() -> None:
    message = parse_syslog('<13>1 - host app - - [broken x="unterminated] text', RECEIVED)
    assert message.format == "rfc5424"
    assert message.structured_data == {}
    assert message.message == '[broken x="unterminated] text'


def test_rfc3164_examples() -> None:
    # RFC 3164 section 5.4, examples 1 and 2 (the second has no tag: service falls back to host).
    first = parse_syslog(
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", RECEIVED
    )
    assert first.format == "rfc3164"
    assert (first.hostname, first.app_name, first.message) == (
        "mymachine",
        "su",
        "'su root' failed for lonvick on /dev/pts/8",
    )
    # No year on the wire: October is last year when it is March now.
    assert first.timestamp is not None
    assert first.timestamp.year == 2025

    second = parse_syslog("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", RECEIVED)
    assert second.timestamp is not None
    assert (second.timestamp.year, second.timestamp.month, second.timestamp.day) == (2026, 2, 5)
    assert (second.hostname, second.app_name, second.message) == ("10.0.0.99", None, "Use the BFG!")
    record = to_record(second, received=RECEIVED)
    assert (record.service, record.host) == ("10.0.0.99", "10.0.0.99")


def test_rfc3164_variants() -> None:
    with_pid = parse_syslog("<11>Mar 15 11:59:59 web-1 nginx[4321]: upstream timed out", RECEIVED)
    assert (with_pid.app_name, with_pid.procid, with_pid.message) == (
        "nginx",
        "4321",
        "upstream timed out",
    )
    iso = parse_syslog("<11>2026-03-15T11:59:59+00:00 web-1 cron[1]: done", RECEIVED)
    assert iso.timestamp == datetime(2026, 3, 15, 11, 59, 59, tzinfo=UTC)
    assert (iso.hostname, iso.app_name) == ("web-1", "cron")

    no_host = parse_syslog("<11>Mar 15 11:59:59 sshd[7]: Accepted key", RECEIVED)
    assert (no_host.hostname, no_host.app_name, no_host.message) == (None, "sshd", "Accepted key")

    # Python's SysLogHandler sends "<PRI>message" with neither time nor host.
    bare = parse_syslog("<11>billing: ERROR card declined", RECEIVED)
    assert (bare.timestamp, bare.hostname, bare.app_name) == (None, None, "billing")
    level_word = parse_syslog("<11>ERROR: disk full", RECEIVED)
    assert level_word.app_name is None
    assert level_word.message == "ERROR: disk full"
    assert to_record(level_word, received=RECEIVED).event_time == RECEIVED


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (0, Level.FATAL),
        (1, Level.FATAL),
        (2, Level.FATAL),
        (3, Level.ERROR),
        (4, Level.WARN),
        (5, Level.INFO),
        (6, Level.INFO),
        (7, Level.DEBUG),
    ],
)
def test_pri_maps_severity_onto_level(severity: int, level: Level) -> None:
    assert level_of(severity) is level
    pri = 23 * 8 + severity  # local7
    record = to_record(parse_syslog(f"<{pri}>1 - h app - - - m", RECEIVED), received=RECEIVED)
    assert record.level is level
    assert record.severity_number == level.severity_number
    assert record.attributes["syslog.facility"] == "local7"


@pytest.mark.parametrize("text", ["no pri at all", "<999>1 - - - - - - out of range", "<ab>x", ""])
def test_unparseable_messages_are_kept_raw(text: str) -> None:
    message = parse_syslog(text, RECEIVED)
    assert message.format == "raw"
    assert message.message == text
    record = to_record(message, received=RECEIVED)
    assert (record.service, record.attributes["syslog.format"]) == ("unknown", "raw")


def test_invalid_utf8_is_replaced() -> None:
    text = decode_frame(b"<13>1 - host app - - - caf\xc3 \xff\xfe end\x00\n")
    assert text.endswith("caf\ufffd \ufffd\ufffd end")
    assert parse_syslog(text, RECEIVED).app_name == "app"


def frames_of(framer: SyslogFramer, *chunks: bytes) -> list[Frame]:
    out: list[Frame] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def octet(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def test_octet_counting_and_newline_framing_mixed_in_one_stream() -> None:
    first = b"<13>1 - h a - - - one\nwith a newline inside"
    second = b"<13>Mar 15 11:59:59 h b: two"
    third = b"<13>1 - h c - - - three"
    stream = octet(first) + second + b"\n" + octet(third) + b"\n" + b"<13>four\x00"
    framer = SyslogFramer(1024)
    assert [f.data for f in frames_of(framer, stream)] == [first, second, third, b"<13>four"]
    assert framer.finish() == []


def test_frames_split_across_reads_in_every_place() -> None:
    stream = octet(b"<13>1 - h a - - - one") + b"<13>two\n" + octet(b"<13>three") + b"<13>tail"
    expected = [b"<13>1 - h a - - - one", b"<13>two", b"<13>three", b"<13>tail"]
    for cut in range(1, len(stream)):
        framer = SyslogFramer(1024)
        frames = frames_of(framer, stream[:cut], stream[cut:]) + framer.finish()
        assert [f.data for f in frames] == expected, f"cut at {cut}"
    framer = SyslogFramer(1024)
    byte_by_byte = frames_of(framer, *(stream[i : i + 1] for i in range(len(stream))))
    assert [f.data for f in byte_by_byte + framer.finish()] == expected


def test_oversized_frames_are_truncated_and_the_stream_goes_on() -> None:
    big = b"<13>1 - h a - - - " + b"x" * 5000
    stream = (
        octet(big) + octet(b"<13>after counted") + b"<13>" + b"y" * 3000 + b"\n<13>after line\n"
    )
    framer = SyslogFramer(1000)
    frames = frames_of(framer, *(stream[i : i + 700] for i in range(0, len(stream), 700)))
    assert [(len(f.data), f.truncated) for f in frames] == [
        (1000, True),
        (len(b"<13>after counted"), False),
        (1000, True),
        (len(b"<13>after line"), False),
    ]
    assert frames[0].data == big[:1000]
    assert frames[3].data == b"<13>after line"


def test_garbage_never_crashes_the_framer_or_the_parser() -> None:
    rng = random.Random(3)
    for _ in range(200):
        framer = SyslogFramer(512)
        chunks = [rng.randbytes(rng.randint(0, 300)) for _ in range(5)]
        frames = frames_of(framer, *chunks) + framer.finish()
        assert all(len(f.data) <= 512 for f in frames)
        records = build_records(frames, RECEIVED, "tcp")
        assert all(r.source == "syslog" for r in records)
    # A digit run that is no octet count is framed by newline instead.
    framer = SyslogFramer(512)
    assert [f.data for f in framer.feed(b"12345678901234 not a length\n")] == [
        b"12345678901234 not a length"
    ]


def test_build_records_marks_truncation_and_transport() -> None:
    frames = [
        Frame(b"<11>1 - h app - - - cut here", truncated=True),
        Frame(b"  \r\n"),
        Frame(b"raw"),
    ]
    records = build_records(frames, RECEIVED, "udp")
    assert len(records) == 2  # the blank frame is no record
    assert records[0].attributes["truncated"] == "true"
    assert records[0].attributes["syslog.transport"] == "udp"
    assert records[0].level is Level.ERROR
    assert records[1].attributes["syslog.format"] == "raw"
    assert "truncated" not in records[1].attributes


def test_syslog_beyond_loopback_must_be_asked_for() -> None:
    with pytest.raises(ValidationError, match="allow_unauthenticated_remote"):
        SyslogSettings(host="0.0.0.0")
    assert SyslogSettings(host="0.0.0.0", allow_unauthenticated_remote=True).host == "0.0.0.0"
    assert SyslogSettings(host="0.0.0.0", enabled=False).enabled is False
    with pytest.raises(ValidationError, match="multiline_start"):
        FileTailSettings(multiline_start="(unclosed")
