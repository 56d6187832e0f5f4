"""Choose the insight store adapter from settings."""

from __future__ import annotations

from loginsight.settings import Settings
from loginsight.store.base import InsightStore


def build_store(settings: Settings) -> InsightStore:
    if settings.store == "postgres":
        from loginsight.store.postgres import PostgresInsightStore

        return PostgresInsightStore(settings.postgres.dsn.get_secret_value())
    from loginsight.store.sqlite import SQLiteInsightStore

    return SQLiteInsightStore(settings.store_db_path)
