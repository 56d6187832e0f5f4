"""OTLP over gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` on the gateway's
gRPC port, so any OpenTelemetry SDK or Collector exports logs here unchanged.

Status codes follow OTLP's retry rules: INVALID_ARGUMENT (bad payload, never retried),
UNAUTHENTICATED, UNAVAILABLE when the bus cannot confirm (retried with backoff).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from ingest_gateway import telemetry
from ingest_gateway.auth import KeyChecker
from ingest_gateway.errors import Backpressure, IngestRefused
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sources.grpc_ingest import metadata_key
from ingest_gateway.sources.otlp import SOURCE, decode_protobuf, export_logs
from loginsight.bus import BusUnavailable
from loginsight.settings import GatewaySettings

SERVICE_NAME = "opentelemetry.proto.collector.logs.v1.LogsService"


def _decode(data: bytes) -> ExportLogsServiceRequest | IngestRefused:
    # A deserializer that raised would end the call with a bare INTERNAL; hand the refusal to
    # the handler instead, so the client reads INVALID_ARGUMENT and why.
    try:
        return decode_protobuf(data)
    except IngestRefused as exc:
        return exc


class OtlpLogsService:
    def __init__(
        self, pipeline: IngestPipeline, settings: GatewaySettings, keys: KeyChecker
    ) -> None:
        self._pipeline = pipeline
        self._settings = settings
        self._keys = keys

    async def Export(
        self,
        request: ExportLogsServiceRequest | IngestRefused,
        context: grpc.aio.ServicerContext,
    ) -> ExportLogsServiceResponse:
        if not self._keys.accepts(SOURCE, metadata_key(context)):
            telemetry.rejected(SOURCE, "unauthenticated")
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key")
        try:
            if isinstance(request, IngestRefused):
                raise request
            return await export_logs(request, self._pipeline, self._settings)
        except IngestRefused as exc:
            telemetry.rejected(SOURCE, exc.reason)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{exc.reason}: {exc.detail}")
        except Backpressure as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except BusUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"bus_unavailable: {exc}")
        raise AssertionError("unreachable: abort raises")


def handler(
    pipeline: IngestPipeline, settings: GatewaySettings, keys: KeyChecker
) -> grpc.GenericRpcHandler:
    """The OTLP LogsService as a handler for the gateway's gRPC server."""
    service = OtlpLogsService(pipeline, settings, keys)
    serialize: Callable[[ExportLogsServiceResponse], bytes] = (
        ExportLogsServiceResponse.SerializeToString
    )
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                service.Export, request_deserializer=_decode, response_serializer=serialize
            )
        },
    )
