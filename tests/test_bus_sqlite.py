"""The embedded bus: one SQLite file, dense per-topic offsets, safe across processes."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import sqlite3
from pathlib import Path

import pytest

from loginsight.bus import BusMessage
from loginsight.bus.sqlite import SQLiteBus


def test_publish_read_and_end_offsets(tmp_path: Path) -> None:
    with SQLiteBus(tmp_path / "bus.sqlite") as bus:
        bus.ensure_topics(["logs"])
        assert bus.end_offsets("logs") == {0: 0}
        assert bus.read("logs", {0: 0}, {0: 10}) == []

        bus.publish("logs", [("svc-a", b"one"), (None, b"two"), ("svc-b", bytes(range(256)))])

        assert bus.end_offsets("logs") == {0: 3}
        assert bus.read("logs", {0: 0}, bus.end_offsets("logs")) == [
            BusMessage("logs", 0, 0, "svc-a", b"one"),
            BusMessage("logs", 0, 1, None, b"two"),
            BusMessage("logs", 0, 2, "svc-b", bytes(range(256))),
        ]


def test_publishing_nothing_changes_nothing(tmp_path: Path) -> None:
    with SQLiteBus(tmp_path / "bus.sqlite") as bus:
        bus.publish("logs", [])
        assert bus.end_offsets("logs") == {0: 0}


def test_offsets_are_dense_per_topic(tmp_path: Path) -> None:
    with SQLiteBus(tmp_path / "bus.sqlite") as bus:
        bus.publish("a", [(None, b"a0"), (None, b"a1")])
        bus.publish("b", [(None, b"b0")])
        bus.publish("a", [(None, b"a2"), (None, b"a3"), (None, b"a4")])
        bus.publish("b", [(None, b"b1")])

        assert bus.end_offsets("a") == {0: 5}
        assert bus.end_offsets("b") == {0: 2}
        a = bus.read("a", {0: 0}, {0: 5})
        assert [m.offset for m in a] == [0, 1, 2, 3, 4]
        assert [m.value for m in a] == [b"a0", b"a1", b"a2", b"a3", b"a4"]
        assert all(m.topic == "a" and m.partition == 0 for m in a)
        assert [m.value for m in bus.read("b", {0: 0}, {0: 2})] == [b"b0", b"b1"]


def test_range_reads(tmp_path: Path) -> None:
    with SQLiteBus(tmp_path / "bus.sqlite") as bus:
        bus.publish("logs", [(None, f"m{i}".encode()) for i in range(10)])

        def offsets(start: dict[int, int], end: dict[int, int]) -> list[int]:
            return [m.offset for m in bus.read("logs", start, end)]

        assert offsets({0: 3}, {0: 7}) == [3, 4, 5, 6]  # start inclusive, end exclusive
        assert offsets({}, {0: 2}) == [0, 1]  # a missing start means offset 0
        assert offsets({0: 8}, {0: 50}) == [8, 9]  # an end past the log stops at its end
        assert offsets({0: 5}, {0: 5}) == []
        assert offsets({0: 6}, {0: 5}) == []
        assert offsets({0: 0}, {}) == []
        assert offsets({0: 10}, {0: 20}) == []
        # Cursor-style consumption: successive ranges see every message exactly once.
        seen = [
            m.value
            for lo, hi in [(0, 4), (4, 9), (9, 10)]
            for m in bus.read("logs", {0: lo}, {0: hi})
        ]
        assert seen == [f"m{i}".encode() for i in range(10)]


def test_max_messages_returns_the_first_in_offset_order(tmp_path: Path) -> None:
    with SQLiteBus(tmp_path / "bus.sqlite") as bus:
        bus.publish("logs", [(None, f"m{i}".encode()) for i in range(10)])

        first = bus.read("logs", {0: 2}, {0: 10}, max_messages=3)
        assert [m.offset for m in first] == [2, 3, 4]
        rest = bus.read("logs", {0: first[-1].offset + 1}, {0: 10}, max_messages=100)
        assert [m.offset for m in rest] == [5, 6, 7, 8, 9]


def test_messages_survive_reopening_and_are_shared_by_instances(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "bus.sqlite"  # the parent folder is created
    with SQLiteBus(path) as writer, SQLiteBus(path) as reader:
        writer.publish("logs", [("k", b"v0")])
        assert reader.end_offsets("logs") == {0: 1}
        reader.publish("logs", [("k", b"v1")])
        assert [m.value for m in writer.read("logs", {0: 0}, {0: 2})] == [b"v0", b"v1"]
    with SQLiteBus(path) as reopened:
        assert reopened.end_offsets("logs") == {0: 2}
        assert [m.key for m in reopened.read("logs", {0: 0}, {0: 2})] == ["k", "k"]


def test_a_failed_publish_stores_nothing_and_releases_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite"
    with SQLiteBus(path) as failing, SQLiteBus(path, busy_timeout_s=1.0) as other:
        failing.publish("logs", [(None, b"m0")])
        with pytest.raises(sqlite3.IntegrityError):
            failing.publish("logs", [(None, b"m1"), (None, None)])  # type: ignore[list-item]

        other.publish("logs", [(None, b"from-other")])  # not blocked by a dangling transaction
        failing.publish("logs", [(None, b"m2")])
        assert [m.value for m in other.read("logs", {0: 0}, {0: 10})] == [
            b"m0",
            b"from-other",
            b"m2",
        ]


# -- two processes publishing at once -------------------------------------------------------

WORKERS = 2
BATCHES = 40
BATCH_SIZE = 25


def _publish_worker(path: str, worker: int, start: multiprocessing.synchronize.Barrier) -> None:
    """Runs in a spawned process: its own SQLiteBus on the shared file."""
    bus = SQLiteBus(Path(path))
    start.wait(timeout=60)
    for batch in range(BATCHES):
        bus.publish(
            "logs",
            [
                (f"w{worker}", f"w{worker}-{batch * BATCH_SIZE + i}".encode())
                for i in range(BATCH_SIZE)
            ],
        )
    bus.close()


def test_concurrent_publishers_in_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite"
    SQLiteBus(path).close()  # create the schema once, before the race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS)
    procs = [
        ctx.Process(target=_publish_worker, args=(str(path), w, start)) for w in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS

    total = WORKERS * BATCHES * BATCH_SIZE
    with SQLiteBus(path) as bus:
        assert bus.end_offsets("logs") == {0: total}
        messages = bus.read("logs", {0: 0}, {0: total})

    # Every offset once, no gaps; every message once.
    assert [m.offset for m in messages] == list(range(total))
    values = [m.value.decode() for m in messages]
    assert len(set(values)) == total
    for w in range(WORKERS):
        mine = [v for v in values if v.startswith(f"w{w}-")]
        # Each worker's messages are all there, in the order it published them.
        assert mine == [f"w{w}-{i}" for i in range(BATCHES * BATCH_SIZE)]
    # A batch is appended atomically: its messages occupy consecutive offsets.
    for batch_start in range(0, total, BATCH_SIZE):
        chunk = messages[batch_start : batch_start + BATCH_SIZE]
        assert len({m.key for m in chunk}) == 1
