"""Test data for the hourly partitions: an incident per event hour, and the helpers that drive the
analysis of an hour (sensor-driven or backfilled) and store what it published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from loginsight.bus.sqlite import SQLiteBus
from loginsight.insight import Insight
from loginsight.model import Level, LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, Settings
from loginsight.store import build_store
from tests.support import launch, tick

H1, H2 = "2026-03-02T10", "2026-03-02T11"


def hour_start(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def record(
    at: datetime, service: str, message: str, level: Level = Level.ERROR, matched: bool = True
) -> LogRecord:
    return LogRecord(
        event_time=at,
        source="http",
        service=service,
        level=level,
        severity_number=level.severity_number,
        message=message,
        matched_rules=("error_level",) if matched else (),
    )


def database_incident(hour: str, connections: int = 6, timeouts: int = 4) -> list[LogRecord]:
    """The database runs out of connections and its caller times out, 20 minutes into `hour`;
    plus routine lines no rule matched."""
    t0 = hour_start(hour) + timedelta(minutes=20)
    lines = [
        record(t0 + timedelta(seconds=2 * n), "payments-db", f"too many connections (max {n})")
        for n in range(connections)
    ]
    lines += [
        record(
            t0 + timedelta(seconds=2 * n + 1),
            "checkout",
            f"upstream payments-db timeout after {3000 + n}ms",
        )
        for n in range(timeouts)
    ]
    lines += [
        record(t0 + timedelta(seconds=n), "checkout", f"order {n} placed", Level.INFO, False)
        for n in range(3)
    ]
    return lines


def disk_incident(hour: str, lines: int = 7) -> list[LogRecord]:
    t0 = hour_start(hour) + timedelta(minutes=40)
    return [
        record(t0 + timedelta(seconds=n), "search", f"disk full on /var/data{n}: write failed")
        for n in range(lines)
    ]


def publish(settings: Settings, records: Sequence[LogRecord]) -> None:
    """What the gateway publishes to topic logs.to.analyze: the matched records."""
    with SQLiteBus(settings.bus_db_path) as bus:
        bus.publish(
            TOPIC_LOGS_TO_ANALYZE, [(r.service, r.to_bus()) for r in records if r.matched_rules]
        )


def backfill(
    defs: dg.Definitions, instance: dg.DagsterInstance, hour: str
) -> dg.ExecuteInProcessResult:
    """A partitioned run with no run config, as a backfill from the UI launches it."""
    result = defs.resolve_job_def("analyze_logs").execute_in_process(
        instance=instance, partition_key=hour
    )
    assert result.success
    return result


def store_published(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> str | None:
    """Run the insights sensor and the runs it asks for: everything published gets stored."""
    requests, cursor, _ = tick(defs, instance, "insights_processed_sensor", cursor)
    for request in requests:
        assert launch(defs, instance, "store_insights", request).success
    return cursor


def totals(settings: Settings) -> dict[str, tuple[int, int]]:
    """Stored (count, batches) per insight template."""
    with build_store(settings) as store:
        return {i.template: (i.count, i.batches) for i in store.list_insights()}


def published(result: dg.ExecuteInProcessResult) -> list[Insight]:
    insights: list[Insight] = result.output_for_node("rca_insights")
    return insights


def without_batch(insights: Sequence[Insight]) -> list[dict[str, object]]:
    """Insights as comparable values, leaving out which batch (run) produced them."""
    return sorted(
        (i.model_dump(mode="json", exclude={"batch_key"}) for i in insights),
        key=lambda d: str(d["fingerprint"]),
    )
