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
from dagster_openai import OpenAIResource
from openai import OpenAI as OpenAIClient
from pydantic import Field, SecretStr

from loginsight.bus import Bus
from loginsight.bus.kafka import KafkaBus
from loginsight.bus.sqlite import SQLiteBus
from loginsight.settings import OpenAISettings, Settings
from loginsight.store import InsightStore
from loginsight.store.postgres import PostgresInsightStore
from loginsight.store.sqlite import SQLiteInsightStore
from rca.analyzer import Analyzer
from rca.analyzers import analyzer_for

POSTGRES_DSN_ENV = "LOGINSIGHT_POSTGRES__DSN"
OPENAI_API_KEY_ENV = "LOGINSIGHT_OPENAI__API_KEY"
_OPENAI_DEFAULTS = OpenAISettings()


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


class AnalyzerResource(dg.ConfigurableResource):
    """The RCA analyzer: `local` (offline, deterministic) or `openai` (any OpenAI-compatible
    endpoint, with the budgets and the cache of `loginsight.settings.OpenAISettings`)."""

    kind: str = Field(default="local", description="local | openai")
    model: str = Field(default=_OPENAI_DEFAULTS.model)
    base_url: str = Field(default="", description="empty: api.openai.com")
    api_key: str = Field(default="", description=f"through EnvVar {OPENAI_API_KEY_ENV}")
    timeout_s: float = Field(default=_OPENAI_DEFAULTS.timeout_s)
    max_retries: int = Field(default=_OPENAI_DEFAULTS.max_retries)
    response_format: str = Field(default=_OPENAI_DEFAULTS.response_format)
    max_output_tokens: int = Field(default=_OPENAI_DEFAULTS.max_output_tokens)
    max_input_tokens: int = Field(default=_OPENAI_DEFAULTS.max_input_tokens)
    run_token_budget: int = Field(default=_OPENAI_DEFAULTS.run_token_budget)
    day_token_budget: int = Field(default=_OPENAI_DEFAULTS.day_token_budget)
    price_in_per_1k: float = Field(default=_OPENAI_DEFAULTS.price_in_per_1k)
    price_out_per_1k: float = Field(default=_OPENAI_DEFAULTS.price_out_per_1k)
    cache_path: str = Field(default=".loginsight/llm_cache.sqlite")
    redact_patterns: list[str] = Field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalyzerResource:
        openai = settings.openai
        # The key is a secret: pass it as an EnvVar when it comes from the environment, so the
        # Dagster UI never shows it.
        api_key: str = openai.api_key.get_secret_value() if openai.api_key else ""
        if settings.analyzer == "openai" and os.environ.get(OPENAI_API_KEY_ENV):
            api_key = dg.EnvVar(OPENAI_API_KEY_ENV)
        return cls(
            kind=settings.analyzer,
            model=openai.model,
            base_url=openai.base_url or "",
            api_key=api_key,
            timeout_s=openai.timeout_s,
            max_retries=openai.max_retries,
            response_format=openai.response_format,
            max_output_tokens=openai.max_output_tokens,
            max_input_tokens=openai.max_input_tokens,
            run_token_budget=openai.run_token_budget,
            day_token_budget=openai.day_token_budget,
            price_in_per_1k=openai.price_in_per_1k,
            price_out_per_1k=openai.price_out_per_1k,
            cache_path=str(settings.llm_cache_path),
            redact_patterns=list(settings.redaction.extra_patterns),
        )

    def build(self, client: OpenAIClient | None = None) -> Analyzer:
        """A fresh analyzer for one run (the per-run token budget counts from here); `client`,
        when given, is the OpenAI client the analyst calls (dagster-openai's in assets)."""
        openai = OpenAISettings(
            api_key=SecretStr(self.api_key) if self.api_key else None,
            base_url=self.base_url or None,
            model=self.model,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            response_format=self.response_format,  # type: ignore[arg-type]  # checked there
            max_output_tokens=self.max_output_tokens,
            max_input_tokens=self.max_input_tokens,
            run_token_budget=self.run_token_budget,
            day_token_budget=self.day_token_budget,
            price_in_per_1k=self.price_in_per_1k,
            price_out_per_1k=self.price_out_per_1k,
        )
        return analyzer_for(self.kind, openai, Path(self.cache_path), self.redact_patterns, client)


# A local OpenAI-compatible server ignores the key, but the client insists on one.
UNUSED_OPENAI_KEY = "unused-by-local-servers"


def openai_resource_from_settings(settings: Settings) -> OpenAIResource:
    """dagster-openai's `OpenAIResource` for the OpenAI analyst: the key through an EnvVar when
    it comes from the environment (the UI never shows it), the base URL of any compatible server."""
    api_key: str = settings.openai.api_key.get_secret_value() if settings.openai.api_key else ""
    if os.environ.get(OPENAI_API_KEY_ENV):
        api_key = dg.EnvVar(OPENAI_API_KEY_ENV)
    elif not api_key and os.environ.get("OPENAI_API_KEY"):
        api_key = dg.EnvVar("OPENAI_API_KEY")
    elif not api_key:
        api_key = UNUSED_OPENAI_KEY
    return OpenAIResource(api_key=api_key, base_url=settings.openai.base_url)
