"""What the OpenAI analyst has already paid for: refinements by incident fingerprint, so a
recurring incident is not paid for twice, and the tokens spent per UTC day, so the daily budget
holds across runs and processes. One SQLite file in WAL mode (Dagster runs in several processes).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS refinements (
        fingerprint TEXT NOT NULL, model TEXT NOT NULL, prompt_version TEXT NOT NULL,
        refinement TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
        cost_usd REAL NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (fingerprint, model, prompt_version))""",
    """CREATE TABLE IF NOT EXISTS daily_usage (
        day TEXT PRIMARY KEY, tokens INTEGER NOT NULL, cost_usd REAL NOT NULL)""",
]


@dataclass(frozen=True)
class CachedRefinement:
    """A model's validated answer (as JSON text) and what it cost when it was first paid for."""

    refinement_json: str
    tokens_in: int
    tokens_out: int
    cost_usd: float


def utc_day(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d")


class RefinementCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        with self._conn:
            for ddl in _SCHEMA:
                self._conn.execute(ddl)

    def get(self, fingerprint: str, model: str, prompt_version: str) -> CachedRefinement | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT refinement, tokens_in, tokens_out, cost_usd FROM refinements"
                " WHERE fingerprint = ? AND model = ? AND prompt_version = ?",
                (fingerprint, model, prompt_version),
            ).fetchone()
        return CachedRefinement(row[0], int(row[1]), int(row[2]), float(row[3])) if row else None

    def put(
        self, fingerprint: str, model: str, prompt_version: str, refinement: CachedRefinement
    ) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO refinements VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fingerprint,
                    model,
                    prompt_version,
                    refinement.refinement_json,
                    refinement.tokens_in,
                    refinement.tokens_out,
                    refinement.cost_usd,
                    datetime.now(UTC).isoformat(),
                ),
            )

    def tokens_used(self, day: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT tokens FROM daily_usage WHERE day = ?", (day,)
            ).fetchone()
        return int(row[0]) if row else 0

    def add_usage(self, day: str, tokens: int, cost_usd: float) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO daily_usage (day, tokens, cost_usd) VALUES (?, ?, ?)"
                " ON CONFLICT (day) DO UPDATE SET tokens = tokens + excluded.tokens,"
                " cost_usd = cost_usd + excluded.cost_usd",
                (day, tokens, cost_usd),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
