"""What the source tests read back from a running gateway: stats per dimension, the records on
the embedded bus (matched records only), and Prometheus counters."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loginsight.bus.sqlite import SQLiteBus
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, Settings


def stats_by(client: httpx.Client, by: str) -> dict[str, int]:
    reply = client.get("/v1/stats", params={"window": "1h", "by": by})
    assert reply.status_code == 200, reply.text
    return {row[by]: row["count"] for row in reply.json()["rows"]}


def bus_records(settings: Settings) -> list[LogRecord]:
    """Every record published to `logs.to.analyze` (the embedded SQLite bus)."""
    bus = SQLiteBus(settings.bus_db_path)
    try:
        end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
        messages = bus.read(TOPIC_LOGS_TO_ANALYZE, {0: 0}, end)
    finally:
        bus.close()
    return [LogRecord.from_bus(message.value) for message in messages]


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """The sum of the GET /metrics samples named `name` with these labels (0 when none)."""
    reply = client.get("/metrics")
    assert reply.status_code == 200, reply.text
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
