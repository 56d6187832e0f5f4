"""End to end on the embedded defaults: gateway (HTTP + gRPC) -> SQLite bus -> Dagster sensors
and assets -> SQLite insight store, with each count checked and replays creating nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import grpc
import httpx

from ingest_gateway.proto import ingest_pb2, ingest_pb2_grpc
from loginsight.store import build_store
from loginsight_dagster.definitions import build_definitions
from tests.support import launch, make_settings, running_gateway, tick

# Every event in one hour (the minute after the current hour began), so the sensor's batch is
# one hourly partition whatever second the test starts at.
EVENT_TIME = datetime.now(UTC).replace(minute=1, second=0, microsecond=0)
HTTP_TS = EVENT_TIME.isoformat()
GRPC_NANOS = int((EVENT_TIME + timedelta(seconds=5)).timestamp() * 1e9)

HTTP_LINES = [
    {
        "ts": HTTP_TS,
        "service": "payments-db",
        "level": "error",
        "message": f"too many connections (max {n})",
    }
    for n in (100, 101, 102)
] + [
    {"ts": HTTP_TS, "service": "checkout", "level": "info", "message": f"order {n} placed"}
    for n in range(7)
]


def test_http_and_grpc_to_insight_store_exactly_once(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", sensor={"max_batch_records": 1000, "max_batch_age_s": 0}
    )
    with running_gateway(settings) as gateway:
        body = "\n".join(json.dumps(line) for line in HTTP_LINES)
        reply = httpx.post(
            f"{gateway.url}/v1/ingest",
            content=body,
            headers={"content-type": "application/x-ndjson"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"accepted": 10, "matched": 3}

        with grpc.insecure_channel(gateway.grpc_target) as channel:
            stub = ingest_pb2_grpc.LogIngestStub(channel)
            batches = [
                ingest_pb2.LogBatch(
                    entries=[
                        ingest_pb2.LogEntry(
                            time_unix_nano=GRPC_NANOS,
                            service="checkout",
                            severity_number=17,
                            message=f"upstream payments-api timeout after {ms}ms: ERROR",
                        )
                        for ms in (3000, 3100)
                    ]
                ),
                ingest_pb2.LogBatch(
                    entries=[
                        ingest_pb2.LogEntry(
                            time_unix_nano=GRPC_NANOS, service="checkout", message="healthy"
                        )
                    ]
                ),
            ]
            pushed = stub.Push(iter(batches), timeout=30)
        assert (pushed.accepted, pushed.matched) == (3, 2)

        stats = httpx.get(f"{gateway.url}/v1/stats", params={"window": "1h", "by": "service"})
        assert stats.status_code == 200
        rows = {row["service"]: row for row in stats.json()["rows"]}
        assert rows["payments-db"]["count"] == 3 and rows["payments-db"]["errors"] == 3
        assert rows["checkout"]["count"] == 10 and rows["checkout"]["errors"] == 2
        by_source = httpx.get(f"{gateway.url}/v1/stats", params={"by": "source"}).json()["rows"]
        assert {r["source"]: r["count"] for r in by_source} == {"http": 10, "sdk": 3}

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()

    requests, cursor, _ = tick(defs, instance, "logs_to_analyze_sensor", None)
    assert len(requests) == 1
    analyze = launch(defs, instance, "analyze_logs", requests[0])
    assert analyze.success

    # A replayed tick (the daemon crashed before saving the cursor) asks for nothing new.
    replayed, _, skip = tick(defs, instance, "logs_to_analyze_sensor", None)
    assert replayed == [] and skip and "exists" in skip
    idle, _, skip = tick(defs, instance, "logs_to_analyze_sensor", cursor)
    assert idle == [] and skip and "no new messages" in skip

    store_requests, store_cursor, _ = tick(defs, instance, "insights_processed_sensor", None)
    assert len(store_requests) == 1
    assert launch(defs, instance, "store_insights", store_requests[0]).success
    again, _, _ = tick(defs, instance, "insights_processed_sensor", None)
    assert again == []
    idle, _, skip = tick(defs, instance, "insights_processed_sensor", store_cursor)
    assert idle == [] and skip and "no new messages" in skip

    # The database's errors and its caller's timeouts burst together: one incident, whose root
    # cause is the database (resource exhaustion, first to fail), counting every line once.
    with build_store(settings) as store:
        [insight] = store.list_insights()
    assert insight.kind == "incident"
    assert insight.service == insight.root_cause_service == "payments-db"
    assert insight.template == "too many connections (max <*>)"
    assert insight.count == 5
    assert insight.blast_radius == {"payments-db": 3, "checkout": 2}
    assert insight.level == "error"
    assert insight.batches == 1 and insight.occurrences == 1
    assert "connection limit is exhausted" in insight.summary
    assert insight.next_steps and insight.evidence
    assert {line.service for line in insight.evidence} == {"payments-db", "checkout"}
