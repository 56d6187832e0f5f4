"""End to end in production mode: gateway -> real Kafka -> Dagster sensors and assets -> real
Postgres, counted exactly once. The topics are shared with other runs, so the sensors start
from the topics' current end, as a new deployment reading only new data would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import grpc
import httpx
import pytest

from ingest_gateway.proto import ingest_pb2, ingest_pb2_grpc
from loginsight.bus.kafka import KafkaBus
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED, TOPIC_LOGS_TO_ANALYZE
from loginsight.store import build_store
from loginsight_dagster.definitions import build_definitions
from sensors import BatchCursor
from tests.support import launch, make_settings, running_gateway, tick

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SERVICES = ["orders", "billing", "search", "auth"]  # spread over Kafka's partitions by key


def _cursor_at_end(bootstrap: str, topic: str) -> str:
    with KafkaBus(bootstrap) as bus:
        end = bus.end_offsets(topic)
    return BatchCursor(offsets={str(p): o for p, o in end.items()}).dump()


def test_kafka_and_postgres_end_to_end(
    tmp_path: Path, kafka_bootstrap: str, clean_postgres: str
) -> None:
    settings = make_settings(
        tmp_path / "data",
        bus="kafka",
        store="postgres",
        kafka={"bootstrap_servers": kafka_bootstrap},
        postgres={"dsn": clean_postgres},
        sensor={"max_batch_records": 10_000, "max_batch_age_s": 0},
    )
    with running_gateway(settings) as gateway:
        logs_cursor = _cursor_at_end(kafka_bootstrap, TOPIC_LOGS_TO_ANALYZE)
        insights_cursor = _cursor_at_end(kafka_bootstrap, TOPIC_INSIGHTS_PROCESSED)

        # One event hour for every line, so the sensor's batch is one hourly partition.
        hour = datetime.now(UTC).replace(minute=1, second=0, microsecond=0)
        ts = hour.isoformat()
        lines = []
        for service in SERVICES:
            lines += [
                {
                    "ts": ts,
                    "service": service,
                    "message": f"Exception: lock wait timeout on row {n}",
                }
                for n in range(5)
            ]
            lines += [
                {"ts": ts, "service": service, "message": f"served request {n}"} for n in range(20)
            ]
        nanos = int((hour + timedelta(seconds=5)).timestamp() * 1e9)
        reply = httpx.post(
            f"{gateway.url}/v1/ingest",
            content="\n".join(json.dumps(line) for line in lines),
            headers={"content-type": "application/x-ndjson"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"accepted": 100, "matched": 20}

        with grpc.insecure_channel(gateway.grpc_target) as channel:
            pushed = ingest_pb2_grpc.LogIngestStub(channel).Push(
                iter(
                    [
                        ingest_pb2.LogBatch(
                            entries=[
                                ingest_pb2.LogEntry(
                                    time_unix_nano=nanos,
                                    service="billing",
                                    message="kernel panic in worker 7",
                                ),
                                ingest_pb2.LogEntry(
                                    time_unix_nano=nanos, service="billing", message="all good"
                                ),
                            ]
                        )
                    ]
                ),
                timeout=30,
            )
        assert (pushed.accepted, pushed.matched) == (2, 1)

        rows = httpx.get(f"{gateway.url}/v1/stats", params={"by": "service"}).json()["rows"]
        counts = {row["service"]: (row["count"], row["errors"]) for row in rows}
        assert counts == {"orders": (25, 5), "billing": (27, 6), "search": (25, 5), "auth": (25, 5)}

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()

    requests, _, _ = tick(defs, instance, "logs_to_analyze_sensor", logs_cursor)
    assert len(requests) == 1
    assert launch(defs, instance, "analyze_logs", requests[0]).success
    replayed, _, skip = tick(defs, instance, "logs_to_analyze_sensor", logs_cursor)
    assert replayed == [] and skip and "exists" in skip

    store_requests, _, _ = tick(defs, instance, "insights_processed_sensor", insights_cursor)
    assert len(store_requests) == 1
    assert launch(defs, instance, "store_insights", store_requests[0]).success
    # Storing the same batch again (a retried run) leaves every count as it was.
    assert launch(defs, instance, "store_insights", store_requests[0]).success

    # Four services' lock wait timeouts and billing's panic burst together: one incident that
    # counts every error line once, per service, however often the batch was stored.
    with build_store(settings) as store:
        [insight] = store.list_insights()
    assert insight.kind == "incident"
    assert insight.count == 21 and insight.batches == 1 and insight.occurrences == 1
    assert insight.blast_radius == {"billing": 6, "orders": 5, "search": 5, "auth": 5}
    assert insight.root_cause_service in SERVICES
    assert insight.next_steps and insight.evidence
