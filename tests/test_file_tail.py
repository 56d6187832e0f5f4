"""File tail: multi-line joining, and a real gateway following a file that a writer rotates by
rename and by copytruncate, across a gateway restart: every line arrives exactly once.

Every record the writer makes is an error with a unique sequence number (`seq=000123`), so
all of them land on the bus topic `logs.to.analyze`, where they are counted by number.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx

from ingest_gateway.normalize.file_lines import MultilineJoiner, file_record
from loginsight.model import Level, LogRecord
from loginsight.settings import DEFAULT_MULTILINE_START
from tests.bus_records import analyzed_records, wait_for
from tests.support import make_settings, running_gateway

SEQ = re.compile(r"seq=(\d{6})")
JAVA_TRACE = (
    "java.lang.IllegalStateException: cart is empty\n"
    "\tat shop.Cart.checkout(Cart.java:42)\n"
    "\tat shop.Api.handle(Api.java:7)\n"
    "Caused by: java.lang.NullPointerException\n"
    "\t... 2 more\n"
)
PYTHON_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "shop/cart.py", line 3, in checkout\n'
    "    raise ValueError(items)\n"
    "ValueError: no items\n"
)


def joiner(max_lines: int = 500, max_bytes: int = 100_000) -> MultilineJoiner:
    return MultilineJoiner(DEFAULT_MULTILINE_START, max_lines, max_bytes)


def test_stack_traces_join_their_first_line() -> None:
    text = (
        "2026-03-15T12:00:00Z ERROR checkout failed\n" + JAVA_TRACE
        + "2026-03-15T12:00:01Z INFO next request\n"
        + "2026-03-15T12:00:02Z ERROR crashed\n" + PYTHON_TRACE + "\n"
        + "{\"message\": \"json line\", \"level\": \"warn\"}\n"
        + "2026-03-15T12:00:03Z INFO still open"
    )  # fmt: skip
    data = text.encode()
    records, consumed = joiner().split(data, complete=False)
    assert [r.text.splitlines()[0] for r in records] == [
        "2026-03-15T12:00:00Z ERROR checkout failed",
        "2026-03-15T12:00:01Z INFO next request",
        "2026-03-15T12:00:02Z ERROR crashed",
    ]
    assert records[0].text.endswith("\t... 2 more")
    assert len(records[0].text.splitlines()) == 6
    assert records[2].text.endswith("ValueError: no items")  # the blank line after it is dropped
    # The JSON line is complete only once the next line starts; the last line has no newline.
    assert data[:consumed].decode().endswith(PYTHON_TRACE + "\n")
    rest, rest_consumed = joiner().split(data[consumed:], complete=True)
    assert [r.text for r in rest] == [
        '{"message": "json line", "level": "warn"}',
        "2026-03-15T12:00:03Z INFO still open",
    ]
    assert consumed + rest_consumed == len(data)


def test_limits_split_long_traces_and_truncate_big_records() -> None:
    data = ("ERROR start\n" + "\tat frame\n" * 9).encode()
    records, _ = joiner(max_lines=4).split(data, complete=True)
    assert [len(r.text.splitlines()) for r in records] == [4, 4, 2]
    big = ("ERROR " + "x" * 500 + "\n\tat more\n").encode()
    (record,), consumed = joiner(max_bytes=300).split(big, complete=True)
    assert record.truncated and len(record.text.encode()) <= 300
    assert consumed == len(big)


def test_lines_become_records() -> None:
    received = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    records, _ = joiner().split(
        b'2026-03-15T11:59:58.5Z ERROR db down\n{"message": "slow", "level": "warn", '
        b'"service": "api", "attrs": {"ms": 900}}\n{not json at all\n',
        complete=True,
    )
    plain, structured, broken = (
        file_record(
            r, path="/l/shop.log", service="shop", host="h", received=received, max_bytes=1000
        )
        for r in records
    )
    assert (plain.source, plain.service, plain.level) == ("file", "shop", Level.ERROR)
    assert plain.event_time == datetime(2026, 3, 15, 11, 59, 58, 500000, tzinfo=UTC)
    assert plain.attributes == {"file.path": "/l/shop.log"}
    assert (structured.service, structured.level, structured.message) == ("api", Level.WARN, "slow")
    assert structured.attributes == {"ms": "900", "file.path": "/l/shop.log"}
    assert structured.host == "h"
    assert (broken.message, broken.event_time) == ("{not json at all", received)


class Writer:
    """An application writing error records (some with stack traces), one flush per record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.next_seq = 0
        self.out: TextIO = path.open("a")

    def write(self, count: int) -> None:
        for _ in range(count):
            seq = self.next_seq
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.out.write(f"{stamp} ERROR payment failed seq={seq:06d}\n")
            if seq % 7 == 0:
                self.out.write(JAVA_TRACE if seq % 2 else PYTHON_TRACE)
            self.out.flush()
            self.next_seq += 1

    def reopen(self) -> None:
        """What an application does after logrotate renamed its file (or on SIGHUP)."""
        self.out.close()
        self.out = self.path.open("a")


def seq_counts(records: list[LogRecord]) -> Counter[int]:
    return Counter(int(n) for r in records if r.source == "file" for n in SEQ.findall(r.message))


def test_rotation_and_restart_deliver_every_line_exactly_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app_log = logs / "app.log"
    settings = make_settings(
        tmp_path / "data",
        file_tail={
            "paths": [str(logs / "*.log")],
            "services": {str(logs / "app.log*"): "shop"},
            "poll_interval_s": 0.05,
            "multiline_flush_s": 0.3,
            "rotate_wait_s": 0.5,
        },
    )

    def arrived() -> Counter[int]:
        return seq_counts(analyzed_records(settings))

    def wait_all(writer: Writer) -> Counter[int]:
        return wait_for(
            arrived,
            lambda seen: len(seen) == writer.next_seq,
            f"seq 0..{writer.next_seq - 1} on the bus",
            timeout_s=60,
            describe=lambda seen: f"missing {sorted(set(range(writer.next_seq)) - set(seen))[:20]}",
        )

    writer = Writer(app_log)
    with running_gateway(settings) as gateway:
        writer.write(150)
        wait_for(arrived, lambda seen: len(seen) > 0, "the first records")
        # Rotation by rename: the old file is finished through its open descriptor.
        os.rename(app_log, logs / "app.log.1")
        writer.write(50)  # still into app.log.1, as an application does until it reopens
        writer.reopen()
        writer.write(150)
        # Copytruncate: copy, then truncate in place; the writer keeps appending. (Lines written
        # between the copy and the truncation are lost by design of copytruncate, so the
        # writer waits for the tail to catch up, as logrotate's delaycompress users know.)
        wait_all(writer)
        shutil.copy(app_log, logs / "app.log.2")
        with app_log.open("r+") as truncating:
            truncating.truncate(0)
        writer.write(150)
        wait_for(arrived, lambda seen: len(seen) > 400, "records after the truncation")
        writer.write(100)  # the gateway stops somewhere in these
    assert gateway.process.returncode is not None
    # Both rotations were seen as such (else lines would be missing or repeated below).
    first_run = gateway.log_tail()
    assert "finished rotated file" in first_run and "was truncated" in first_run, first_run
    writer.write(100)  # while the gateway is down ...
    os.rename(app_log, logs / "app.log.3")  # ... the file is rotated ...
    writer.write(30)
    writer.reopen()
    writer.write(70)  # ... and the new file grows.
    with running_gateway(settings) as gateway:
        writer.write(150)
        seen = wait_all(writer)
        # app.log.3, renamed while the gateway was down, was found by its inode and finished.
        wait_for(gateway.log_tail, lambda log: "finished rotated file" in log, "app.log.3 done")
        duplicates = {seq: n for seq, n in seen.items() if n != 1}
        assert not duplicates, f"records delivered more than once: {duplicates}"
        records = [r for r in analyzed_records(settings) if r.source == "file"]
        assert {r.service for r in records} == {"shop"}
        traces = [r for r in records if int(SEQ.findall(r.message)[0]) % 7 == 0]
        assert traces and all(
            r.message.endswith(("ValueError: no items", "\t... 2 more")) for r in traces
        )
        reply = httpx.get(f"{gateway.url}/v1/stats", params={"by": "source"}, timeout=10)
        rows = {row["source"]: row["count"] for row in reply.json()["rows"]}
        assert rows.get("file") == writer.next_seq
    writer.out.close()
