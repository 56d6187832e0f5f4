"""The gateway's one gRPC server: every gRPC source's service on one port, TLS when configured."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from loginsight.settings import GatewaySettings


def build_grpc_server(
    handlers: Sequence[grpc.GenericRpcHandler], settings: GatewaySettings
) -> grpc.aio.Server:
    """A grpc.aio server bound to `settings.grpc_port`, not yet started."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ],
        maximum_concurrent_rpcs=256,
    )
    server.add_generic_rpc_handlers(tuple(handlers))
    address = f"{settings.host}:{settings.grpc_port}"
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        credentials = grpc.ssl_server_credentials(
            [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())]
        )
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {address}")
    return server
