"""OTLP/HTTP: `POST /v1/logs` on its own port (default 4318), protobuf or JSON, gzip or not.

Answers as the OTLP/HTTP specification asks: 200 with an `ExportLogsServiceResponse` (partial
success when records were rejected) in the request's encoding; a `google.rpc.Status` body on
errors; 400 for a bad payload (never retried); 429 and 503 with `Retry-After` for backpressure.
The listener is its own small uvicorn server, run as a task in the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI, Request, Response
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from ingest_gateway import telemetry
from ingest_gateway.auth import KeyChecker, bearer_token
from ingest_gateway.errors import Backpressure, IngestRefused
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sources.body import decode_utf8, gunzip_bounded
from ingest_gateway.sources.http_ingest import read_body
from ingest_gateway.sources.otlp import SOURCE, decode_json, decode_protobuf, export_logs
from loginsight.bus import BusUnavailable
from loginsight.settings import GatewaySettings, OtlpSettings

log = logging.getLogger(__name__)

PATH = "/v1/logs"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
STARTUP_TIMEOUT_S = 10.0

# google.rpc.Code carried in the Status body of each HTTP refusal.
_RPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    408: code_pb2.DEADLINE_EXCEEDED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def _encoded(message: Message, media_type: str, status: int = 200, **headers: str) -> Response:
    if media_type == PROTOBUF:
        return Response(message.SerializeToString(), status, headers, media_type=PROTOBUF)
    return Response(
        json_format.MessageToJson(message, indent=None), status, headers, media_type=JSON
    )


def _status(status: int, message: str, media_type: str, **headers: str) -> Response:
    body = status_pb2.Status(code=_RPC_CODES.get(status, code_pb2.UNKNOWN), message=message)
    return _encoded(body, media_type, status, **headers)


def _api_key(request: Request) -> str | None:
    return bearer_token(request) or request.headers.get("x-api-key") or None


def build_app(
    pipeline: IngestPipeline, gateway: GatewaySettings, otlp: OtlpSettings, keys: KeyChecker
) -> FastAPI:
    """The OTLP/HTTP application: one route, every answer in OTLP's shapes."""
    app = FastAPI(title="Log Insight OTLP/HTTP", openapi_url=None, docs_url=None, redoc_url=None)
    in_flight = 0
    retry_after = str(otlp.retry_after_s)

    @app.post(PATH)
    async def export(request: Request) -> Response:
        nonlocal in_flight
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        answer_type = media_type if media_type in (PROTOBUF, JSON) else JSON
        if in_flight >= otlp.max_concurrent_exports:
            telemetry.rejected(SOURCE, "too_many_requests")
            message = f"more than {otlp.max_concurrent_exports} exports in flight"
            return _status(429, message, answer_type, **{"Retry-After": retry_after})
        in_flight += 1
        try:
            keys.check(SOURCE, _api_key(request))
            with telemetry.counting_refusals(SOURCE):
                return await _export(request, media_type, pipeline, gateway)
        except IngestRefused as exc:
            return _status(exc.status, f"{exc.reason}: {exc.detail}", answer_type)
        except Backpressure as exc:
            retry = {"Retry-After": str(exc.retry_after_s)}
            return _status(exc.status, str(exc), answer_type, **retry)
        except BusUnavailable as exc:
            message = f"bus_unavailable: {exc}"
            return _status(503, message, answer_type, **{"Retry-After": retry_after})
        finally:
            in_flight -= 1

    return app


async def _export(
    request: Request, media_type: str, pipeline: IngestPipeline, settings: GatewaySettings
) -> Response:
    if media_type not in (PROTOBUF, JSON):
        raise IngestRefused(
            "unsupported_media_type",
            f"content type {media_type or '(none)'!r}; send {PROTOBUF} or {JSON}",
            status=415,
        )
    body = await read_body(request, settings)
    telemetry.BYTES_RECEIVED.labels(source=SOURCE).inc(len(body))
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):  # the OTel exporters' compression options
        body = await asyncio.to_thread(gunzip_bounded, body, settings.max_decompressed_bytes)
    elif encoding not in ("identity", ""):
        raise IngestRefused(
            "unsupported_encoding", f"content encoding {encoding!r}; use gzip", status=415
        )
    if media_type == PROTOBUF:
        export_request = await asyncio.to_thread(decode_protobuf, body)
    else:
        export_request = await asyncio.to_thread(decode_json, decode_utf8(body))
    response = await export_logs(export_request, pipeline, settings)
    return _encoded(response, media_type)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside the gateway's loop: the gateway's own server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OtlpHttpSource:
    """The OTLP/HTTP listener as a background source of the gateway."""

    name = "otlp-http"

    def __init__(
        self,
        pipeline: IngestPipeline,
        gateway: GatewaySettings,
        otlp: OtlpSettings,
        keys: KeyChecker,
    ) -> None:
        self._gateway = gateway
        self._otlp = otlp
        config = uvicorn.Config(
            build_app(pipeline, gateway, otlp, keys),
            host=gateway.host,
            port=otlp.http_port,
            loop="asyncio",
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=10,
            ssl_certfile=gateway.tls_cert_file,
            ssl_keyfile=gateway.tls_key_file,
            # Leave logging as the gateway configured it (uvicorn would reset its loggers' levels,
            # the gateway's own server's included); no access log on the ingest hot path.
            log_config=None,
            log_level=None,
            access_log=False,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Bound here, not by uvicorn: a port in use fails the gateway's start with a clear
        # OSError instead of uvicorn's sys.exit inside a task.
        family = socket.AF_INET6 if ":" in self._gateway.host else socket.AF_INET
        sock = socket.create_server((self._gateway.host, self._otlp.http_port), family=family)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=self.name)
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises what stopped it
                    raise RuntimeError("OTLP/HTTP listener stopped during startup")
                await asyncio.sleep(0.01)
        scheme = "https" if self._gateway.tls else "http"
        log.info(
            "OTLP/HTTP listening on %s://%s:%s%s",
            scheme,
            self._gateway.host,
            self._otlp.http_port,
            PATH,
        )

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
