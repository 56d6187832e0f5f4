"""The insight store: Postgres in production, SQLite by default, one interface."""

from loginsight.store.base import InsightStore
from loginsight.store.factory import build_store

__all__ = ["InsightStore", "build_store"]
