"""Dagster resources for the shared core's adapters, configured from `loginsight.settings`.

Each resource is a thin, configurable handle that opens the adapter the settings name, so the
same assets and sensors run on the embedded defaults and on Kafka + Postgres.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from loginsight.bus import Bus
from loginsight.bus.kafka import KafkaBus
from loginsight.bus.sqlite import SQLiteBus
from loginsight.settings import Settings
from loginsight.store import InsightStore
from loginsight.store.postgres import PostgresInsightStore
from loginsight.store.sqlite import SQLiteInsightStore

POSTGRES_DSN_ENV = "LOGINSIGHT_POSTGRES__DSN"


class BusResource(dg.ConfigurableResource):
    """The message bus: `sqlite` (embedded file) or `kafka`."""

    kind: str = Field(default="sqlite", description="sqlite | kafka")
    sqlite_path: str = Field(default=".loginsight/bus.sqlite")
    bootstrap_servers: str = Field(default="127.0.0.1:9092")
    partitions: int = Field(default=3)

    @classmethod
    def from_settings(cls, settings: Settings) -> BusResource:
        return cls(
            kind=settings.bus,
            sqlite_path=str(settings.bus_db_path),
            bootstrap_servers=settings.kafka.bootstrap_servers,
            partitions=settings.kafka.partitions,
        )

    @contextmanager
    def open(self) -> Iterator[Bus]:
        bus: Bus
        if self.kind == "kafka":
            bus = KafkaBus(self.bootstrap_servers, self.partitions, client_id="loginsight-dagster")
        else:
            bus = SQLiteBus(Path(self.sqlite_path))
        try:
            yield bus
        finally:
            bus.close()


class InsightStoreResource(dg.ConfigurableResource):
    """The insight store: `sqlite` (embedded file) or `postgres`."""

    kind: str = Field(default="sqlite", description="sqlite | postgres")
    sqlite_path: str = Field(default=".loginsight/insights.sqlite")
    postgres_dsn: str = Field(default="")

    @classmethod
    def from_settings(cls, settings: Settings) -> InsightStoreResource:
        # The DSN carries a password: pass it as an EnvVar so the UI never shows it.
        dsn: str = settings.postgres.dsn.get_secret_value()
        if settings.store == "postgres" and os.environ.get(POSTGRES_DSN_ENV):
            return cls(
                kind="postgres",
                sqlite_path=str(settings.store_db_path),
                postgres_dsn=dg.EnvVar(POSTGRES_DSN_ENV),
            )
        return cls(kind=settings.store, sqlite_path=str(settings.store_db_path), postgres_dsn=dsn)

    @contextmanager
    def open(self) -> Iterator[InsightStore]:
        store: InsightStore
        if self.kind == "postgres":
            store = PostgresInsightStore(self.postgres_dsn)
        else:
            store = SQLiteInsightStore(Path(self.sqlite_path))
        try:
            yield store
        finally:
            store.close()
