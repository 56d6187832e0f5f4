"""`python -m ingest_gateway`: run the gateway on the configured ports until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

import uvicorn

from ingest_gateway.app import create_app
from loginsight.settings import load_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.gateway.host,
        port=settings.gateway.http_port,
        loop="asyncio",  # grpc.aio shares this event loop
        timeout_keep_alive=30,
        ssl_certfile=settings.gateway.tls_cert_file,
        ssl_keyfile=settings.gateway.tls_key_file,
        log_level="info",
    )


if __name__ == "__main__":
    main()
