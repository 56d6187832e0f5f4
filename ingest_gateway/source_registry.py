"""Every source the gateway runs, in one place: adding a protocol means adding its module and
one line to the list it belongs in (HTTP routes, gRPC services, or background listeners)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc
from fastapi import APIRouter

from ingest_gateway.auth import KeyChecker
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sources import datadog as datadog_source
from ingest_gateway.sources import firehose as firehose_source
from ingest_gateway.sources import grpc_ingest, http_ingest, otlp_grpc, otlp_http
from ingest_gateway.sources import loki as loki_source
from ingest_gateway.sources.file_tail import FileTailSource
from ingest_gateway.sources.syslog import SyslogSource
from loginsight.settings import Settings


@dataclass(frozen=True)
class SourceContext:
    """What every source is built with."""

    settings: Settings
    pipeline: IngestPipeline
    keys: KeyChecker


class BackgroundSource(Protocol):
    """A listener with its own sockets or files (syslog, file tail ...), run by the app."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def http_routers(settings: Settings) -> list[APIRouter]:
    """Routers mounted on the gateway's HTTP port; each reads its context from app.state.
    A disabled source's routes are not mounted, so they answer 404."""
    gateway = settings.gateway
    enabled = [
        (gateway.native_http_enabled, http_ingest.router),
        (gateway.datadog.enabled, datadog_source.router),
        (gateway.firehose.enabled, firehose_source.router),
        (gateway.loki.enabled, loki_source.router),
    ]
    return [router for on, router in enabled if on]


def grpc_handlers(context: SourceContext) -> list[grpc.GenericRpcHandler]:
    """Services served on the gateway's gRPC port."""
    settings, pipeline, keys = context.settings, context.pipeline, context.keys
    handlers: list[grpc.GenericRpcHandler] = []
    if settings.gateway.native_grpc_enabled:  # off: the service answers UNIMPLEMENTED
        handlers.append(grpc_ingest.handler(pipeline, settings.gateway, keys))
    if settings.otlp.serves_grpc:
        handlers.append(otlp_grpc.handler(pipeline, settings.gateway, keys))
    return handlers


def background_sources(context: SourceContext) -> list[BackgroundSource]:
    """Listeners started after the pipeline and stopped before it, in this order."""
    settings, pipeline, keys = context.settings, context.pipeline, context.keys
    sources: list[BackgroundSource] = []
    if settings.otlp.serves_http:
        sources.append(otlp_http.OtlpHttpSource(pipeline, settings.gateway, settings.otlp, keys))
    if settings.syslog.enabled:
        sources.append(SyslogSource(settings.syslog, pipeline))
    if settings.file_tail.enabled and settings.file_tail.paths:
        offsets = settings.file_tail_offsets_path
        sources.append(FileTailSource(settings.file_tail, offsets, pipeline))
    return sources
