"""`python -m ingest_gateway`: run the gateway on the configured ports until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from ingest_gateway.app import create_app
from loginsight.settings import load_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except ValidationError as exc:
        # Unsafe or invalid settings (e.g. listening beyond loopback without API keys): say which,
        # without a traceback, and exit non-zero so a supervisor does not report it started.
        # Field and message only: the input may hold API keys.
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        sys.exit(f"ingest_gateway: refusing to start, invalid settings:\n{problems}")
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
