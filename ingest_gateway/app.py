"""The gateway application: `create_app(settings)` builds the HTTP API and owns the background
services (gRPC server, DuckDB stats, bus producer), started and stopped in its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import duckdb
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest_gateway import ui
from ingest_gateway.auth import KeyChecker
from ingest_gateway.errors import Backpressure, IngestRefused
from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.grpc_server import build_grpc_server
from ingest_gateway.pipeline import InFlightLimit, IngestPipeline
from ingest_gateway.sinks.archive import ArchiveWriter
from ingest_gateway.sinks.spool import Spool, SpoolDrainer
from ingest_gateway.sinks.stats import (
    DIMENSIONS,
    MAX_SERIES_BUCKETS,
    StatsDimension,
    StatsWriter,
    parse_window,
)
from ingest_gateway.source_registry import (
    SourceContext,
    background_sources,
    grpc_handlers,
    http_routers,
)
from loginsight.bus import BusUnavailable, build_bus
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED, TOPIC_LOGS_TO_ANALYZE, Settings

log = logging.getLogger(__name__)

BUS_RETRY_AFTER_S = 5


def _refusal(status: int, reason: str, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status, headers=headers)


ARCHIVE_ROLL_CHECK_S = 5.0


async def _roll_archive(archive: ArchiveWriter) -> None:
    """Close archive segments on time even when no request arrives to do it."""
    while True:
        await asyncio.sleep(ARCHIVE_ROLL_CHECK_S)
        await asyncio.to_thread(archive.roll_due)


async def _compact_stats(stats: StatsWriter, interval_s: float) -> None:
    """Downsample old minute stats to hourly rows and expire old hours, now and periodically."""
    while True:
        try:
            await asyncio.to_thread(stats.compact)
        except duckdb.Error:
            log.exception("stats compaction failed; retrying at the next interval")
        await asyncio.sleep(interval_s)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        durability = settings.spool
        # With a spool, a request waits for the bus only briefly: past that, it is spooled.
        bus = build_bus(settings, durability.publish_timeout_s if durability.enabled else None)
        spool = (
            Spool(
                settings.spool_db_path,
                durability.max_records,
                durability.max_bytes,
                durability.retry_after_s,
            )
            if durability.enabled
            else None
        )
        stats = StatsWriter(
            settings.stats_db_path,
            timedelta(hours=settings.stats.minute_retention_h),
            timedelta(days=settings.stats.hour_retention_days),
        )
        archive = (
            ArchiveWriter(
                settings.archive_dir, settings.archive.roll_after_s, settings.archive.roll_bytes
            )
            if settings.archive.enabled
            else None
        )
        rules = RuleFilter(load_rules(settings.gateway.rules_file))
        in_flight = InFlightLimit(durability.max_in_flight_records, durability.retry_after_s)
        pipeline = IngestPipeline(
            rules, stats, bus, archive, spool, in_flight, settings.gateway.columnar_ingest
        )
        await asyncio.to_thread(
            pipeline.publisher.ensure_topics, [TOPIC_LOGS_TO_ANALYZE, TOPIC_INSIGHTS_PROCESSED]
        )
        drainer = SpoolDrainer(pipeline.publisher, durability.drain_batch_records)
        await drainer.start()
        roller = asyncio.create_task(_roll_archive(archive)) if archive else None
        compactor = asyncio.create_task(_compact_stats(stats, settings.stats.compact_interval_s))
        context = SourceContext(settings, pipeline, KeyChecker(settings.gateway))
        grpc_server = build_grpc_server(grpc_handlers(context), settings.gateway)
        await grpc_server.start()
        listeners = background_sources(context)
        for listener in listeners:
            await listener.start()
        app.state.settings = settings
        app.state.stats = stats
        app.state.pipeline = pipeline
        app.state.sources = context
        app.state.ready = True
        log.info(
            "gateway ready: http %s, grpc %s",
            settings.gateway.http_port,
            settings.gateway.grpc_port,
        )
        try:
            yield
        finally:
            app.state.ready = False
            for listener in reversed(listeners):
                await listener.stop()
            await grpc_server.stop(grace=5)
            await drainer.stop()
            compactor.cancel()
            if roller is not None and archive is not None:
                roller.cancel()
                await asyncio.to_thread(archive.close)
            await asyncio.to_thread(bus.close)
            if spool is not None:
                spool.close()
            stats.close()

    app = FastAPI(title="Log Insight gateway", lifespan=lifespan)
    app.state.ready = False
    for router in http_routers(settings):
        app.include_router(router)
    if settings.ui.enabled:  # the read-only web dashboard under /ui
        app.include_router(ui.router)

    @app.exception_handler(IngestRefused)
    async def on_refused(_request: Request, exc: IngestRefused) -> JSONResponse:
        return _refusal(exc.status, exc.reason, exc.detail)

    @app.exception_handler(Backpressure)
    async def on_backpressure(_request: Request, exc: Backpressure) -> JSONResponse:
        # Counted by the pipeline (telemetry.REQUESTS_REJECTED) where the source is known.
        retry_after = {"Retry-After": str(exc.retry_after_s)}
        return _refusal(exc.status, exc.reason, exc.detail, **retry_after)

    @app.exception_handler(BusUnavailable)
    async def on_bus_down(_request: Request, exc: BusUnavailable) -> JSONResponse:
        # Counted by the pipeline (telemetry.BUS_DELIVERY_FAILED) where the source is known.
        return _refusal(503, "bus_unavailable", str(exc), **{"Retry-After": str(BUS_RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return _refusal(400, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition of the gateway's counters (see `ingest_gateway.telemetry`)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """200 once every listener and sink is up."""
        if not request.app.state.ready:
            return _refusal(503, "starting", "gateway is not ready yet")
        return JSONResponse({"status": "ok"})

    @app.get("/v1/stats")
    async def stats(
        request: Request,
        window: Annotated[str, Query(description="how far back: 30s, 15m, 1h, 7d")] = "1h",
        by: Annotated[StatsDimension, Query(description=" | ".join(DIMENSIONS))] = "service",
    ) -> dict[str, Any]:
        """Record and error counts per service, level or source over the window."""
        try:
            span = parse_window(window)
        except ValueError as exc:
            raise IngestRefused("invalid_window", str(exc)) from exc
        rows = await asyncio.to_thread(request.app.state.stats.query, span, by)
        return {"window": window, "by": by, "rows": rows}

    @app.get("/v1/stats/series")
    async def stats_series(
        request: Request,
        window: Annotated[str, Query(description="how far back: 30s, 15m, 1h, 7d")] = "1h",
        by: Annotated[StatsDimension, Query(description=" | ".join(DIMENSIONS))] = "service",
        buckets: Annotated[int, Query(ge=1, le=MAX_SERIES_BUCKETS)] = 60,
    ) -> dict[str, Any]:
        """Counts per value of `by` per time bucket (a minute, or wider for long windows);
        `rows` lists non-empty buckets by index from `start` in steps of `step_s`."""
        try:
            span = parse_window(window)
        except ValueError as exc:
            raise IngestRefused("invalid_window", str(exc)) from exc
        series = await asyncio.to_thread(request.app.state.stats.series, span, by, buckets)
        return {"window": window, "by": by, **series}

    return app
