"""The web dashboard the gateway serves under `/ui`."""

from ingest_gateway.ui.routes import router

__all__ = ["router"]
