"""OTLP backpressure, in process with the real embedded bus: while another connection holds the
bus's write lock, exports are answered as retryable (HTTP 503 + Retry-After, gRPC UNAVAILABLE);
past the concurrency limit, HTTP 429 + Retry-After; once the bus is free, the same export is
accepted."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from prometheus_client import REGISTRY

from ingest_gateway.auth import KeyChecker
from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.grpc_server import build_grpc_server
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sinks.stats import StatsWriter
from ingest_gateway.sources import otlp_grpc
from ingest_gateway.sources.otlp_http import OtlpHttpSource
from loginsight.bus.sqlite import SQLiteBus
from loginsight.settings import Settings
from tests.support import make_settings

JSON = {"content-type": "application/json"}
ERROR_EXPORT = {
    "resourceLogs": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "pressure"}}]
            },
            "scopeLogs": [
                {"logRecords": [{"severityNumber": 17, "body": {"stringValue": "disk full"}}]}
            ],
        }
    ]
}


@dataclass
class OtlpStack:
    settings: Settings
    stats: StatsWriter

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.otlp.http_port}/v1/logs"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.settings.gateway.grpc_port}"


@asynccontextmanager
async def otlp_stack(
    data_dir: Path, busy_timeout_s: float, **otlp: int
) -> AsyncIterator[OtlpStack]:
    """Both OTLP listeners over a real pipeline whose embedded bus waits `busy_timeout_s` for
    its write lock."""
    settings = make_settings(data_dir, otlp=otlp)
    bus = SQLiteBus(settings.bus_db_path, busy_timeout_s=busy_timeout_s)
    stats = StatsWriter(settings.stats_db_path)
    pipeline = IngestPipeline(RuleFilter(load_rules(None)), stats, bus)
    keys = KeyChecker(settings.gateway)
    server = build_grpc_server(
        [otlp_grpc.handler(pipeline, settings.gateway, keys)], settings.gateway
    )
    http = OtlpHttpSource(pipeline, settings.gateway, settings.otlp, keys)
    await server.start()
    await http.start()
    try:
        yield OtlpStack(settings, stats)
    finally:
        await http.stop()
        await server.stop(None)
        bus.close()
        stats.close()


def bus_write_lock(settings: Settings) -> sqlite3.Connection:
    """Another connection holding the embedded bus's write lock until it rolls back."""
    locker = sqlite3.connect(settings.bus_db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    return locker


def pressure_count(stack: OtlpStack) -> int:
    return sum(
        row["count"]
        for row in stack.stats.query(timedelta(hours=1), "service")
        if row["service"] == "pressure"
    )


def test_bus_down_is_503_with_retry_after_and_grpc_unavailable(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with otlp_stack(tmp_path / "data", busy_timeout_s=0.2) as stack:
            locker = bus_write_lock(stack.settings)
            async with httpx.AsyncClient(timeout=30) as client:
                reply = await client.post(stack.url, json=ERROR_EXPORT, headers=JSON)
                assert reply.status_code == 503, reply.text
                assert reply.headers["retry-after"] == str(stack.settings.otlp.retry_after_s)
                assert reply.json()["code"] == code_pb2.UNAVAILABLE
                assert "bus_unavailable" in reply.json()["message"]
                async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
                    stub = logs_service_pb2_grpc.LogsServiceStub(channel)
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await stub.Export(_proto_export(), timeout=30)
                    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

                    locker.rollback()
                    locker.close()
                    assert pressure_count(stack) == 0  # nothing was counted while refused
                    await stub.Export(_proto_export(), timeout=30)  # the retry succeeds
                reply = await client.post(stack.url, json=ERROR_EXPORT, headers=JSON)
                assert reply.status_code == 200, reply.text
            assert pressure_count(stack) == 2

    asyncio.run(scenario())


def _proto_export() -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    json_format.ParseDict(ERROR_EXPORT, request)
    return request


def test_exports_beyond_the_concurrency_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with otlp_stack(
            tmp_path / "data", busy_timeout_s=60, max_concurrent_exports=1
        ) as stack:
            locker = bus_write_lock(stack.settings)
            received = _otlp_received()
            async with httpx.AsyncClient(timeout=90) as client:
                first = asyncio.create_task(client.post(stack.url, json=ERROR_EXPORT))
                while _otlp_received() == received and not first.done():
                    await asyncio.sleep(0.01)  # until the first export waits for the bus
                assert not first.done(), (await first).text
                second = await client.post(stack.url, json=ERROR_EXPORT)
                assert second.status_code == 429, second.text
                assert second.headers["retry-after"] == str(stack.settings.otlp.retry_after_s)
                status = status_pb2.Status(**second.json())
                assert status.code == code_pb2.RESOURCE_EXHAUSTED
                locker.rollback()
                locker.close()
                assert (await first).status_code == 200
            assert pressure_count(stack) == 1

    asyncio.run(scenario())


def _otlp_received() -> float:
    value = REGISTRY.get_sample_value("loginsight_records_received_total", {"source": "otlp"})
    return value or 0.0
