"""Firehose request ids already delivered, kept on disk so a retry after a gateway restart is
still recognised.

Firehose retries a request (same `X-Amz-Firehose-Request-Id`) whenever it did not read our 200,
e.g. when the answer was lost. An id is remembered only after its records are durable, so a
crash between the two makes the retry ingest again: at-least-once, never lost. The newest
`capacity` ids are kept; the window is per gateway (each has its own data_dir).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS delivered (
    request_id TEXT PRIMARY KEY,
    delivered_ms INTEGER NOT NULL
)
"""


class DeliveredRequests:
    """A bounded, persistent set of delivered request ids, and the ids being delivered now."""

    def __init__(self, path: Path, capacity: int) -> None:
        self._path = path
        self._capacity = capacity
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: calls come from worker threads and are rare (one per request).
        return sqlite3.connect(self._path, timeout=30, isolation_level=None)

    def delivered(self, request_id: str) -> bool:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT 1 FROM delivered WHERE request_id = ?", (request_id,)
            ).fetchone()
        return row is not None

    def begin(self, request_id: str) -> bool:
        """Claim an id for delivery; False while another attempt with it is still running."""
        with self._lock:
            if request_id in self._in_flight:
                return False
            self._in_flight.add(request_id)
            return True

    def end(self, request_id: str) -> None:
        with self._lock:
            self._in_flight.discard(request_id)

    def remember(self, request_id: str) -> None:
        """Record a delivered id, forgetting the oldest beyond capacity."""
        now_ms = time.time_ns() // 1_000_000
        with closing(self._connect()) as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO delivered (request_id, delivered_ms) VALUES (?, ?)",
                (request_id, now_ms),
            )
            if cursor.lastrowid:
                conn.execute(
                    "DELETE FROM delivered WHERE rowid <= ?", (cursor.lastrowid - self._capacity,)
                )
