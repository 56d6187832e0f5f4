"""The embedded bus: a durable, multi-process log in one SQLite file in WAL mode.

One partition (0) per topic; offsets are dense per topic and assigned inside an
immediate transaction, so several processes can publish and read at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from loginsight.bus.base import Bus, BusMessage, BusUnavailable, Offsets

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_messages (
    topic TEXT NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT,
    value BLOB NOT NULL,
    published_at REAL NOT NULL,
    PRIMARY KEY (topic, offset)
) WITHOUT ROWID
"""


BUSY_TIMEOUT_S = 30.0  # how long a publish waits for another writer's lock


class SQLiteBus(Bus):
    def __init__(self, path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is fsynced before publish() returns, so an acknowledgement is durable.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)

    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Topics exist implicitly in the one table."""

    def publish(self, topic: str, messages: Sequence[tuple[str | None, bytes]]) -> None:
        if not messages:
            return
        now = time.time()
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                (next_offset,) = self._conn.execute(
                    "SELECT COALESCE(MAX(offset) + 1, 0) FROM bus_messages WHERE topic = ?",
                    (topic,),
                ).fetchone()
                self._conn.executemany(
                    "INSERT INTO bus_messages (topic, offset, key, value, published_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (topic, next_offset + i, key, value, now)
                        for i, (key, value) in enumerate(messages)
                    ],
                )
                self._conn.execute("COMMIT")
            except BaseException as exc:
                # Any failure (not only a busy database) must release the write lock, or every
                # other process's publish blocks until this connection happens to roll back.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise BusUnavailable(f"embedded bus: {exc}") from exc
                raise

    def end_offsets(self, topic: str) -> Offsets:
        with self._lock:
            (end,) = self._conn.execute(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM bus_messages WHERE topic = ?", (topic,)
            ).fetchone()
        return {0: int(end)}

    def read(
        self, topic: str, start: Offsets, end: Offsets, max_messages: int = 100_000
    ) -> list[BusMessage]:
        begin, stop = start.get(0, 0), end.get(0, 0)
        if stop <= begin:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT offset, key, value FROM bus_messages"
                " WHERE topic = ? AND offset >= ? AND offset < ? ORDER BY offset LIMIT ?",
                (topic, begin, stop, max_messages),
            ).fetchall()
        return [BusMessage(topic, 0, offset, key, bytes(value)) for offset, key, value in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
