"""Every source the gateway runs, in one place: adding a protocol means adding its module and
one line to the list it belongs in (HTTP routes, gRPC services, or background listeners)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc
from fastapi import APIRouter

from ingest_gateway.auth import KeyChecker
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sources import grpc_ingest, http_ingest
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


def http_routers() -> list[APIRouter]:
    """Routers mounted on the gateway's HTTP port; each reads its context from app.state."""
    return [http_ingest.router]


def grpc_handlers(context: SourceContext) -> list[grpc.GenericRpcHandler]:
    """Services served on the gateway's gRPC port."""
    return [grpc_ingest.handler(context.pipeline, context.settings.gateway, context.keys)]


def background_sources(context: SourceContext) -> list[BackgroundSource]:
    """Listeners started after the pipeline and stopped before it, in this order."""
    return []
