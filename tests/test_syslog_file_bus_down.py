"""Syslog and file tail while the bus cannot confirm, in process with the real embedded bus:
another connection holds the bus's write lock, so every delivery fails (counted); once it lets
go, every record sent or written meanwhile arrives exactly once."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from prometheus_client import REGISTRY

from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sinks.stats import StatsWriter
from ingest_gateway.sources.file_tail import FileTailSource
from ingest_gateway.sources.syslog import SyslogSource
from loginsight.bus.sqlite import SQLiteBus
from tests.bus_records import analyzed_records
from tests.support import make_settings


def failed_deliveries(source: str) -> float:
    value = REGISTRY.get_sample_value("loginsight_bus_delivery_failed_total", {"source": source})
    return value or 0.0


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


def test_bus_down_holds_records_until_it_is_back(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    settings = make_settings(
        tmp_path / "data",
        file_tail={"paths": [str(logs / "*.log")], "poll_interval_s": 0.05},
    )
    marks = {kind: f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("tcp", "udp", "file")}

    def delivered() -> Counter[str]:
        return Counter(
            kind
            for record in analyzed_records(settings)
            for kind, mark in marks.items()
            if mark in record.message
        )

    async def scenario() -> None:
        bus = SQLiteBus(settings.bus_db_path, busy_timeout_s=0.2)
        stats = StatsWriter(settings.stats_db_path)
        pipeline = IngestPipeline(RuleFilter(load_rules(None)), stats, bus)
        sources = [
            SyslogSource(settings.syslog, pipeline),
            FileTailSource(settings.file_tail, settings.file_tail_offsets_path, pipeline),
        ]
        for source in sources:
            await source.start()
        locker = sqlite3.connect(settings.bus_db_path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        before = {kind: failed_deliveries(kind) for kind in ("syslog", "file")}
        port = settings.syslog.port
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"<11>1 - h api - - - ERROR {marks['tcp']}\n".encode())
            await writer.drain()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(f"<11>api: ERROR {marks['udp']}".encode(), ("127.0.0.1", port))
            (logs / "app.log").write_text(f"ERROR {marks['file']}\n")
            await until(
                lambda: all(failed_deliveries(k) >= before[k] + 2 for k in before),
                "failed deliveries of syslog and file records (retried)",
            )
            assert delivered() == Counter()
            locker.execute("ROLLBACK")  # the bus is back
            await until(
                lambda: set(delivered()) == set(marks), "every record after the bus is back"
            )
            writer.close()
            await asyncio.sleep(0.5)  # a few more polls: nothing may be delivered twice
            assert delivered() == Counter({"tcp": 1, "udp": 1, "file": 1})
        finally:
            locker.close()
            for source in reversed(sources):
                await source.stop()
            bus.close()
            stats.close()

    asyncio.run(scenario())
