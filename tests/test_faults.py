"""Fault tests: real processes killed or restarted in the middle of a stream. Acknowledged means
never lost: every record a client got a 200 for is found afterwards, counted by id or marker.

The broker and the database that are killed here are private to the test (tests/kafka_process.py,
tests/postgres_process.py): the shared services other tests use are never touched.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pyarrow.parquet as pq
import pytest

from ingest_gateway.sinks.spool import Spool
from loginsight.bus import BusUnavailable
from loginsight.bus.kafka import KafkaBus
from loginsight.bus.sqlite import SQLiteBus
from loginsight.insight import Insight
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED, TOPIC_LOGS_TO_ANALYZE, Settings
from loginsight.store import build_store
from loginsight_dagster.definitions import build_definitions
from tests.bus_records import analyzed_records, wait_for
from tests.kafka_process import PrivateKafka
from tests.postgres_process import PrivatePostgres
from tests.support import launch, make_settings, running_gateway, tick

pytestmark = pytest.mark.faults

NDJSON = {"content-type": "application/x-ndjson"}
LINES_PER_REQUEST = 20
ERRORS_PER_REQUEST = 5  # the first lines of each request; the rest are not matched


@dataclass
class Stream:
    """One client posting numbered requests in a loop until stopped, noting each answer."""

    url: str
    run: str
    service: str = "stream"
    acked: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # answered, but not 200
    failed: list[int] = field(default_factory=list)  # no answer (connection lost or refused)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def body(self, request: int) -> str:
        lines = []
        for line in range(LINES_PER_REQUEST):
            level = "ERROR" if line < ERRORS_PER_REQUEST else "served"
            lines.append(
                json.dumps({"service": self.service, "message": self.marker(request, line, level)})
            )
        return "\n".join(lines)

    def marker(self, request: int, line: int, level: str = "ERROR") -> str:
        return f"{level} {self.run} r={request} l={line}"

    def run_until_stopped(self) -> None:
        request = 0
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                try:
                    reply = client.post(self.url, content=self.body(request), headers=NDJSON)
                    if reply.status_code == 200:
                        self.acked.append(request)
                    else:
                        self.refused.append((request, reply.text))
                except httpx.HTTPError:
                    self.failed.append(request)
                    time.sleep(0.05)  # the gateway is gone: do not spin
                request += 1

    @contextmanager
    def running(self) -> Iterator[Stream]:
        self._thread = threading.Thread(target=self.run_until_stopped, daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop after the request in progress has its answer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(90)

    def wait_acked(self, count: int, what: str) -> None:
        wait_for(lambda: len(self.acked), lambda n: n >= count, what, timeout_s=90)

    def acked_errors(self) -> set[str]:
        return {self.marker(r, line) for r in self.acked for line in range(ERRORS_PER_REQUEST)}

    def acked_lines(self) -> set[str]:
        return {
            self.marker(r, line, "ERROR" if line < ERRORS_PER_REQUEST else "served")
            for r in self.acked
            for line in range(LINES_PER_REQUEST)
        }


# --------------------------------------------------------------------------------------------
# Kafka killed


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
    records = (LogRecord.from_bus(message.value) for message in found)
    return [record for record in records if run in record.message]


def test_kafka_killed_mid_stream_loses_no_acknowledged_record(
    tmp_path: Path, private_kafka: PrivateKafka
) -> None:
    settings = make_settings(
        tmp_path / "data",
        bus="kafka",
        kafka={"bootstrap_servers": private_kafka.bootstrap},
        spool={"publish_timeout_s": 2.0},
    )
    run = uuid.uuid4().hex[:10]
    with running_gateway(settings) as gateway:
        stream = Stream(f"{gateway.url}/v1/ingest", run)
        with stream.running():
            stream.wait_acked(20, "requests acknowledged before the kill")
            private_kafka.kill()
            before_down = len(stream.acked)
            time.sleep(10)  # the outage; nothing is asserted on time
            stream.wait_acked(before_down + 10, "requests acknowledged while Kafka is down")
            private_kafka.start()
            stream.wait_acked(len(stream.acked) + 20, "requests acknowledged after the restart")
        expected = stream.acked_errors()
        records = wait_for(
            lambda: _kafka_records_soon(private_kafka.bootstrap, run),
            lambda got: {r.message for r in got} >= expected,
            "every acknowledged error record on logs.to.analyze",
            timeout_s=90,
            describe=lambda got: f"{len(expected - {r.message for r in got})} missing",
        )

    assert stream.refused == [] and stream.failed == []  # with the spool, Kafka down is no error
    ids: dict[str, set[str]] = defaultdict(set)
    for record in records:
        ids[record.message].add(record.id)
    assert set(ids) == expected  # every acknowledged error line, and nothing else
    assert all(len(copies) == 1 for copies in ids.values())  # duplicates share their record id
    assert len({i for copies in ids.values() for i in copies}) == len(expected)
    first_seen: list[str] = []
    for record in records:  # one service: one key, one partition, read in offset order
        if record.message not in first_seen:
            first_seen.append(record.message)
    # The client sent one request at a time: the bus holds them in the order acknowledged.
    assert first_seen == [
        stream.marker(r, line) for r in stream.acked for line in range(ERRORS_PER_REQUEST)
    ]


# --------------------------------------------------------------------------------------------
# Gateway killed


def _archived(settings: Settings) -> dict[str, str]:
    """message -> record id of every record in the archive's closed Parquet files."""
    found: dict[str, str] = {}
    for path in sorted(settings.archive_dir.rglob("*.parquet")):
        table = pq.read_table(path, columns=["id", "message"])
        messages, ids = table.column("message").to_pylist(), table.column("id").to_pylist()
        found.update(zip(messages, ids, strict=True))
    return found


def _stats_counts(url: str) -> dict[str, int]:
    rows = httpx.get(f"{url}/v1/stats", params={"by": "service", "window": "1d"}).json()["rows"]
    return {row["service"]: row["count"] for row in rows}


def _tail_offset(settings: Settings) -> int:
    path = settings.file_tail_offsets_path
    if not path.exists():
        return 0
    return sum(int(entry["offset"]) for entry in json.loads(path.read_text()).values())


def _write_lines(path: Path, run: str, start: int, count: int) -> None:
    with path.open("a") as out:
        for n in range(start, start + count):
            level = "ERROR" if n % 2 == 0 else "INFO"
            out.write(f"{level} {run} file line {n}\n")


def test_gateway_killed_mid_stream_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app_log = logs / "app.log"
    settings = make_settings(
        tmp_path / "data",
        file_tail={
            "paths": [str(logs / "*.log")],
            "poll_interval_s": 0.1,
            "multiline_flush_s": 0.2,
        },
    )
    run = uuid.uuid4().hex[:10]
    _write_lines(app_log, run, 0, 40)
    stream = Stream(f"{settings.gateway.base_url}/v1/ingest", run)
    with running_gateway(settings) as gateway, stream.running():
        stream.wait_acked(30, "requests acknowledged before the kill")
        # The tail has delivered the whole file and saved its offset: no line is in flight.
        wait_for(lambda: _tail_offset(settings), lambda n: n == app_log.stat().st_size, "tail")
        gateway.process.kill()  # SIGKILL, mid-stream
        gateway.process.wait(30)
        acked_before_kill = len(stream.acked)
        stream.wait_acked(acked_before_kill, "the stream to notice")  # no new acks can come
        _write_lines(app_log, run, 40, 40)  # written while the gateway is down

        with running_gateway(settings) as restarted:
            stream.wait_acked(acked_before_kill + 20, "requests acknowledged after the restart")
            wait_for(lambda: _tail_offset(settings), lambda n: n == app_log.stat().st_size, "tail")
            stream.stop()
            stats = _stats_counts(restarted.url)

    on_bus = [r for r in analyzed_records(settings) if run in r.message]
    bus_messages = [r.message for r in on_bus]
    # Bus: every acknowledged error line of the stream.
    assert stream.acked_errors() <= set(bus_messages)
    # File tail: resumed from its saved offset, so every error line of the file exactly once.
    file_errors = [m for m in bus_messages if " file line " in m]
    assert sorted(file_errors) == sorted(f"ERROR {run} file line {n}" for n in range(0, 80, 2))
    # Archive (rolled when the second gateway stopped): every acknowledged record, with the id
    # it has on the bus.
    archived = _archived(settings)
    assert stream.acked_lines() <= set(archived)
    assert {f"{lvl} {run} file line {n}" for n in range(80) for lvl in ("ERROR", "INFO")} & set(
        archived
    ) == {f"{'ERROR' if n % 2 == 0 else 'INFO'} {run} file line {n}" for n in range(80)}
    assert all(archived[r.message] == r.id for r in on_bus if r.message in archived)
    # Stats: every acknowledged record counted; beyond that, at most the one request that was
    # in flight at the kill (processed, but its answer never reached the client).
    acked_lines = len(stream.acked) * LINES_PER_REQUEST
    assert stream.failed and stream.refused == []  # the kill did cut the stream, nothing else
    assert acked_lines <= stats["stream"] <= acked_lines + LINES_PER_REQUEST
    assert stats["app"] == 80


def test_gateway_killed_with_records_in_its_spool_drains_them_after_restart(
    tmp_path: Path, private_kafka: PrivateKafka
) -> None:
    private_kafka.stop()
    settings = make_settings(
        tmp_path / "data",
        bus="kafka",
        kafka={"bootstrap_servers": private_kafka.bootstrap},
        spool={"publish_timeout_s": 1.0},
    )
    run = uuid.uuid4().hex[:10]
    stream = Stream(f"{settings.gateway.base_url}/v1/ingest", run)
    with running_gateway(settings) as gateway:
        with httpx.Client(timeout=60) as client:
            for request in range(10):
                reply = client.post(stream.url, content=stream.body(request), headers=NDJSON)
                assert reply.status_code == 200, reply.text  # acknowledged: in the spool
                stream.acked.append(request)
        gateway.process.kill()
        gateway.process.wait(30)
    leftover = Spool(settings.spool_db_path, max_records=10**6, max_bytes=10**9)
    try:
        assert leftover.records == 10 * ERRORS_PER_REQUEST  # the crash kept every spooled match
    finally:
        leftover.close()

    private_kafka.start()
    with running_gateway(settings):
        expected = stream.acked_errors()
        records = wait_for(
            lambda: _kafka_records_soon(private_kafka.bootstrap, run),
            lambda got: {r.message for r in got} >= expected,
            "the spool of the killed gateway drained by the restarted one",
            timeout_s=60,
        )
    assert {r.message for r in records} == expected
    first_seen: list[str] = []
    for record in records:  # one service, so one key and one partition: the spool's order
        if record.message not in first_seen:
            first_seen.append(record.message)
    assert first_seen == [
        stream.marker(r, line) for r in range(10) for line in range(ERRORS_PER_REQUEST)
    ]


# --------------------------------------------------------------------------------------------
# Postgres restarted


def _insight(batch: int, number: int, run: str) -> Insight:
    seen = datetime(2026, 3, 2, 10, tzinfo=UTC) + timedelta(minutes=batch)
    return Insight(
        fingerprint=f"{run}-{number}",
        batch_key=f"batch-{batch}",
        service=f"svc{number}",
        template=f"failure <*> number {number}",
        title=f"failure {number}",
        summary="restart test",
        level="ERROR",
        count=batch + number + 1,
        first_seen=seen,
        last_seen=seen + timedelta(seconds=30),
    )


def _retried(result: dg.ExecuteInProcessResult) -> bool:
    return any(
        event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for event in result.all_events
    )


def test_postgres_restarted_while_insights_are_stored(tmp_path: Path) -> None:
    postgres = PrivatePostgres()
    try:
        postgres.start()
        settings = make_settings(
            tmp_path / "data", store="postgres", postgres={"dsn": postgres.dsn}
        )
        defs = build_definitions(settings)
        instance = dg.DagsterInstance.ephemeral()
        run, batches, per_batch = uuid.uuid4().hex[:8], 6, 3
        cursor: str | None = None
        retried = []
        with SQLiteBus(settings.bus_db_path) as bus:
            for batch in range(batches):
                insights = [_insight(batch, n, run) for n in range(per_batch)]
                bus.publish(
                    TOPIC_INSIGHTS_PROCESSED, [(i.fingerprint, i.to_bus()) for i in insights]
                )
                requests, cursor, _ = tick(defs, instance, "insights_processed_sensor", cursor)
                assert len(requests) == 1
                restarter = None
                if batch == 2:  # down when the run starts, back while it retries
                    postgres.stop()
                    restarter = threading.Timer(3.0, postgres.start)
                elif batch == 4:  # restarted while the run writes
                    restarter = threading.Timer(0.05, postgres.restart)
                if restarter is not None:
                    restarter.start()
                result = launch(defs, instance, "store_insights", requests[0])
                if restarter is not None:
                    restarter.join(60)
                assert result.success
                retried.append(_retried(result))
                # A replayed tick asks for nothing twice.
                again, _, _ = tick(defs, instance, "insights_processed_sensor", cursor)
                assert again == []
        assert retried[2]  # the outage did hit a write, and the retry policy carried it through

        with build_store(settings) as store:
            stored = {i.fingerprint: i for i in store.list_insights()}
        assert set(stored) == {f"{run}-{n}" for n in range(per_batch)}
        for n in range(per_batch):
            assert stored[f"{run}-{n}"].batches == batches  # each batch once: nothing lost
            assert stored[f"{run}-{n}"].count == sum(b + n + 1 for b in range(batches))  # nor twice
    finally:
        postgres.remove()
