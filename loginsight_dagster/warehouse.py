"""Dagster-side warehouse tables in `<data_dir>/warehouse.duckdb` (through dagster-duckdb).

`insight_facts` holds one row per insight per report period: what the report counted, so trends
across periods are one SQL query away (`SELECT period_start, SUM(count) FROM insight_facts ...`).
Writing a period again replaces its rows, so a re-run report never counts twice.
"""

from __future__ import annotations

from typing import Any

from loginsight.insight_report import InsightReport

CREATE_INSIGHT_FACTS = """
CREATE TABLE IF NOT EXISTS insight_facts (
    report TEXT NOT NULL, period_start TIMESTAMPTZ NOT NULL, period_end TIMESTAMPTZ NOT NULL,
    fingerprint TEXT NOT NULL, kind TEXT NOT NULL, service TEXT NOT NULL, title TEXT NOT NULL,
    count BIGINT NOT NULL, occurrences BIGINT NOT NULL, novelty TEXT NOT NULL,
    status TEXT NOT NULL, last_seen TIMESTAMPTZ NOT NULL, run_id TEXT NOT NULL,
    PRIMARY KEY (report, period_start, fingerprint))
"""


def write_insight_facts(conn: Any, report: InsightReport, run_id: str) -> int:
    """Replace the report period's rows of `insight_facts` in one transaction; the row count."""
    period = report.period
    rows = [
        (
            period.name,
            period.start,
            period.end,
            i.fingerprint,
            i.kind,
            i.service,
            i.title,
            i.count,
            i.occurrences,
            i.novelty,
            i.status,
            i.last_seen,
            run_id,
        )
        for i in report.insights
    ]
    conn.execute(CREATE_INSIGHT_FACTS)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "DELETE FROM insight_facts WHERE report = ? AND period_start = ?",
            [period.name, period.start],
        )
        if rows:
            conn.executemany(
                "INSERT INTO insight_facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return len(rows)
