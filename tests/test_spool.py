"""The gateway's spool: durable FIFO of what the bus could not confirm, drained in order, bounded.

Unit tests run the real spool (SQLite) against the real embedded bus made unavailable by another
connection holding its write lock; gateway tests run the real gateway against Kafka that is not
there at first (a private broker, started later) or never (a closed port).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

from ingest_gateway.errors import Backpressure, IngestRefused
from ingest_gateway.pipeline import InFlightLimit
from ingest_gateway.proto import ingest_pb2, ingest_pb2_grpc
from ingest_gateway.sinks.spool import Delivery, Spool, SpoolingPublisher
from loginsight.bus import BusUnavailable
from loginsight.bus.kafka import KafkaBus
from loginsight.bus.sqlite import SQLiteBus
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE
from tests.bus_records import wait_for
from tests.kafka_process import PrivateKafka
from tests.support import RunningGateway, free_port, make_settings, running_gateway

TOPIC = "logs.test"
NDJSON = {"content-type": "application/x-ndjson"}


def messages(*values: str) -> list[tuple[str | None, bytes]]:
    return [(value.split("-")[0], value.encode()) for value in values]


def bus_values(bus: SQLiteBus, topic: str = TOPIC) -> list[str]:
    end = bus.end_offsets(topic)
    return [m.value.decode() for m in bus.read(topic, dict.fromkeys(end, 0), end)]


def locked(bus_path: Path) -> tuple[threading.Event, threading.Thread]:
    """Another connection holding the embedded bus's write lock until the event is set."""
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        locker = sqlite3.connect(bus_path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait()
        locker.execute("ROLLBACK")
        locker.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    held.wait(10)
    return release, thread


def test_spool_is_drained_in_order_and_keeps_later_messages_behind(tmp_path: Path) -> None:
    bus = SQLiteBus(tmp_path / "bus.sqlite", busy_timeout_s=0.1)
    spool = Spool(tmp_path / "spool.sqlite", max_records=1_000, max_bytes=1 << 20)
    publisher = SpoolingPublisher(bus, spool)
    try:
        assert publisher.publish(TOPIC, messages("a-1", "b-1")) is Delivery.BUS
        release, holder = locked(tmp_path / "bus.sqlite")
        assert publisher.publish(TOPIC, messages("a-2", "b-2")) is Delivery.SPOOLED_BUS_FAILED
        with pytest.raises(BusUnavailable):
            publisher.drain_once(2)  # the bus is still locked: nothing is let go
        assert spool.records == 2
        release.set()
        holder.join(10)
        # The bus is back, but older messages wait in the spool: these go behind them.
        assert publisher.publish(TOPIC, messages("a-3")) is Delivery.SPOOLED_BEHIND
        assert publisher.publish(TOPIC, messages("b-3", "a-4")) is Delivery.SPOOLED_BEHIND
        assert bus_values(bus) == ["a-1", "b-1"]
        assert [publisher.drain_once(2) for _ in range(4)] == [2, 2, 1, 0]
        assert spool.records == 0 and spool.size_bytes == 0
        assert publisher.publish(TOPIC, messages("b-4")) is Delivery.BUS
        assert bus_values(bus) == ["a-1", "b-1", "a-2", "b-2", "a-3", "b-3", "a-4", "b-4"]
    finally:
        spool.close()
        bus.close()


def test_spooled_messages_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    spool = Spool(path, max_records=100, max_bytes=1 << 20)
    spool.append(TOPIC, messages("a-1", "b-1"))
    spool.append("other.topic", [(None, b"\x00binary\xff")])
    spool.close()

    reopened = Spool(path, max_records=100, max_bytes=1 << 20)
    try:
        assert reopened.records == 3
        assert reopened.size_bytes == len(b"a-1b-1\x00binary\xff")
        oldest = reopened.oldest(10)
        assert [(m.topic, m.key, m.value) for m in oldest] == [
            (TOPIC, "a", b"a-1"),
            (TOPIC, "b", b"b-1"),
            ("other.topic", None, b"\x00binary\xff"),
        ]
        assert reopened.remove_through(oldest[1].seq) == 2
        assert [m.value for m in reopened.oldest(10)] == [b"\x00binary\xff"]
    finally:
        reopened.close()


def test_a_full_spool_pushes_back_until_drained(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", max_records=3, max_bytes=1 << 20, retry_after_s=7)
    try:
        spool.append(TOPIC, messages("a-1", "a-2"))
        spool.append(TOPIC, messages("a-3", "a-4"))  # below the bound when it came: taken
        with pytest.raises(Backpressure) as refused:
            spool.append(TOPIC, messages("a-5"))
        assert (refused.value.status, refused.value.retry_after_s) == (503, 7)
        assert refused.value.reason == "spool_full"
        assert isinstance(refused.value, BusUnavailable)  # retryable for every source
        assert spool.records == 4
        spool.remove_through(spool.oldest(2)[-1].seq)
        spool.append(TOPIC, messages("a-5"))
        assert [m.value for m in spool.oldest(10)] == [b"a-3", b"a-4", b"a-5"]
    finally:
        spool.close()

    by_bytes = Spool(tmp_path / "bytes.sqlite", max_records=1_000, max_bytes=10)
    try:
        by_bytes.append(TOPIC, [("k", b"x" * 10)])
        with pytest.raises(Backpressure):
            by_bytes.append(TOPIC, [("k", b"y")])
    finally:
        by_bytes.close()


def test_a_message_the_bus_never_takes_is_refused_not_spooled(tmp_path: Path) -> None:
    closed_port = free_port()  # never contacted: the size is checked before any send
    spool = Spool(tmp_path / "spool.sqlite", max_records=100, max_bytes=1 << 30)
    publisher = SpoolingPublisher(KafkaBus(f"127.0.0.1:{closed_port}"), spool)
    too_large = b"x" * (KafkaBus.max_message_bytes + 1)
    try:
        with pytest.raises(IngestRefused) as refused:
            publisher.publish(TOPIC, [("api", b"fine"), ("api", too_large)])
        assert (refused.value.status, refused.value.reason) == (413, "record_too_large")
        assert spool.records == 0  # it would have blocked the spool's head for good
    finally:
        spool.close()


def test_records_in_flight_are_bounded_but_one_call_always_passes() -> None:
    limit = InFlightLimit(max_records=10, retry_after_s=3)
    limit.acquire(50)  # larger than the bound, but alone: let in
    with pytest.raises(Backpressure) as refused:
        limit.acquire(1)
    assert (refused.value.status, refused.value.reason) == (429, "too_many_in_flight")
    limit.release(50)
    limit.acquire(6)
    limit.acquire(4)
    with pytest.raises(Backpressure):
        limit.acquire(1)
    limit.release(4)
    limit.acquire(1)


# --------------------------------------------------------------------------------------------
# the gateway


def _error_lines(run: str, service: str, start: int, count: int) -> str:
    return "\n".join(
        json.dumps({"service": service, "message": f"ERROR {run} {service} seq={n}"})
        for n in range(start, start + count)
    )


def _spool_gauge(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    found = re.search(r"^loginsight_spool_records (\S+)$", text, re.M)
    assert found, "the gateway exports loginsight_spool_records"
    return float(found.group(1))


def _received_http(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    found = re.search(r'^loginsight_records_received_total\{source="http"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _kafka_records_soon(bootstrap: str, run: str) -> list[LogRecord]:
    """`_kafka_records` for polling: a broker just back may not serve metadata yet (no leader
    elected), which is "not yet", not a failure."""
    try:
        return _kafka_records(bootstrap, run)
    except BusUnavailable:
        return []


def _kafka_records(bootstrap: str, run: str) -> list[LogRecord]:
    with KafkaBus(bootstrap) as bus:
        end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
        found = bus.read(TOPIC_LOGS_TO_ANALYZE, dict.fromkeys(end, 0), end)
    records = [LogRecord.from_bus(message.value) for message in found]
    return [record for record in records if run in record.message]


def test_gateway_acknowledges_into_the_spool_while_kafka_is_down_then_drains_in_order(
    tmp_path: Path, private_kafka: PrivateKafka
) -> None:
    private_kafka.stop()  # down before the gateway starts: it must start and accept anyway
    settings = make_settings(
        tmp_path / "data",
        bus="kafka",
        kafka={"bootstrap_servers": private_kafka.bootstrap},
        spool={"publish_timeout_s": 1.0},
    )
    run = uuid.uuid4().hex[:10]
    services = ["orders", "billing", "search"]
    sent: dict[str, list[int]] = defaultdict(list)
    with running_gateway(settings) as gateway, httpx.Client(timeout=60) as client:
        for round_ in range(4):
            for service in services:
                reply = client.post(
                    f"{gateway.url}/v1/ingest",
                    content=_error_lines(run, service, round_ * 5, 5),
                    headers=NDJSON,
                )
                assert reply.status_code == 200, reply.text
                assert reply.json() == {"accepted": 5, "matched": 5}
                sent[service] += range(round_ * 5, round_ * 5 + 5)
        assert _spool_gauge(gateway.url) == 60  # every acknowledged match waits in the spool

        private_kafka.start()
        for service in services:  # while draining: spooled behind, or straight to the bus
            reply = client.post(
                f"{gateway.url}/v1/ingest",
                content=_error_lines(run, service, 20, 5),
                headers=NDJSON,
            )
            assert reply.status_code == 200, reply.text
            sent[service] += range(20, 25)

        records = wait_for(
            lambda: _kafka_records_soon(private_kafka.bootstrap, run),
            lambda got: {r.message for r in got} >= {f"ERROR {run} {s} seq=24" for s in services},
            "every acknowledged record on Kafka",
            timeout_s=60,
        )
        wait_for(lambda: _spool_gauge(gateway.url), lambda n: n == 0, "an empty spool")

    records = _kafka_records(private_kafka.bootstrap, run)
    first_seen: dict[str, list[int]] = defaultdict(list)
    ids: dict[str, set[str]] = defaultdict(set)
    for record in records:
        seq = int(record.message.rsplit("seq=", 1)[1])
        ids[record.message].add(record.id)
        if seq not in first_seen[record.service]:
            first_seen[record.service].append(seq)
    assert dict(first_seen) == dict(sent)  # none lost, each service's records in send order
    assert all(len(copies) == 1 for copies in ids.values())  # a duplicate keeps its record id


def _push_error(gateway: RunningGateway, run: str) -> grpc.StatusCode:
    """Push one error entry over native gRPC; the status it ended with."""
    batch = ingest_pb2.LogBatch(
        entries=[ingest_pb2.LogEntry(service="api", message=f"ERROR {run} grpc")]
    )
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        try:
            ingest_pb2_grpc.LogIngestStub(channel).Push(iter([batch]), timeout=30)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _otlp_export(run: str) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"severityNumber": 17, "body": {"stringValue": f"ERROR {run} otlp"}}
                        ]
                    }
                ],
            }
        ]
    }


def _otlp_grpc_error(gateway: RunningGateway, run: str) -> grpc.StatusCode:
    request = logs_service_pb2.ExportLogsServiceRequest()
    json_format.ParseDict(_otlp_export(run), request)
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        try:
            logs_service_pb2_grpc.LogsServiceStub(channel).Export(request, timeout=30)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _api_count(client: httpx.Client, gateway: RunningGateway) -> int:
    rows = client.get(f"{gateway.url}/v1/stats", params={"by": "service"}).json()["rows"]
    return sum(row["count"] for row in rows if row["service"] == "api")


def test_a_full_spool_is_answered_503_and_resource_exhausted(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens: Kafka is down for the whole test
    settings = make_settings(
        tmp_path / "data",
        bus="kafka",
        kafka={"bootstrap_servers": f"127.0.0.1:{closed_port}"},
        spool={"publish_timeout_s": 1.0, "max_records": 2, "retry_after_s": 9},
    )
    run = uuid.uuid4().hex[:10]
    with running_gateway(settings) as gateway, httpx.Client(timeout=60) as client:
        url = f"{gateway.url}/v1/ingest"
        for n in range(2):
            reply = client.post(url, content=_error_lines(run, "api", n, 1), headers=NDJSON)
            assert reply.status_code == 200, reply.text  # spooled
        assert _spool_gauge(gateway.url) == 2
        full = client.post(url, content=_error_lines(run, "api", 2, 1), headers=NDJSON)
        assert full.status_code == 503, full.text
        assert full.headers["retry-after"] == "9"
        assert full.json()["error"] == "spool_full"
        assert _push_error(gateway, run) == grpc.StatusCode.RESOURCE_EXHAUSTED
        otlp_http = client.post(
            f"http://127.0.0.1:{settings.otlp.http_port}/v1/logs", json=_otlp_export(run)
        )
        assert otlp_http.status_code == 503, otlp_http.text
        assert otlp_http.headers["retry-after"] == "9"
        assert _otlp_grpc_error(gateway, run) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _api_count(client, gateway) == 2  # refused requests are not counted


def test_too_many_records_in_flight_are_answered_429_and_resource_exhausted(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path / "data",
        spool={"publish_timeout_s": 60.0, "max_in_flight_records": 1, "retry_after_s": 9},
    )
    run = uuid.uuid4().hex[:10]
    with running_gateway(settings) as gateway, httpx.Client(timeout=90) as client:
        url = f"{gateway.url}/v1/ingest"
        release, holder = locked(settings.bus_db_path)  # the embedded bus cannot confirm
        received = _received_http(gateway.url)
        first: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: first.append(
                client.post(url, content=_error_lines(run, "api", 0, 1), headers=NDJSON)
            )
        )
        waiting.start()
        try:
            # The first request waits for the bus, holding one record in flight.
            wait_for(lambda: _received_http(gateway.url), lambda n: n > received, "first request")
            second = client.post(url, content=_error_lines(run, "api", 1, 1), headers=NDJSON)
            assert second.status_code == 429, second.text
            assert second.headers["retry-after"] == "9"
            assert second.json()["error"] == "too_many_in_flight"
            assert _push_error(gateway, run) == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            release.set()
            holder.join(10)
            waiting.join(90)
        assert first and first[0].status_code == 200, first  # the bus confirmed it once free
        assert _api_count(client, gateway) == 1
