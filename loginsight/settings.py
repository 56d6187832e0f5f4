"""All settings in one typed place, read from `LOGINSIGHT_*` environment variables or a `.env` file.

Nested groups use a double underscore: `LOGINSIGHT_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
Every default is the embedded mode: DuckDB stats, SQLite bus and store, local analyzer.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".loginsight")

TOPIC_LOGS_TO_ANALYZE = "logs.to.analyze"
TOPIC_INSIGHTS_PROCESSED = "ai.insights.processed"


class GatewaySettings(BaseModel):
    """Where the gateway listens and how much it accepts."""

    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 4317
    max_body_bytes: int = 10 * 1024 * 1024  # compressed request body
    max_decompressed_bytes: int = 50 * 1024 * 1024  # stops gzip bombs
    max_record_bytes: int = 1024 * 1024  # one log message
    max_records_per_request: int = 100_000
    request_timeout_s: float = 30.0
    rules_file: Path | None = None  # YAML filter rules; the bundled defaults when unset

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = 3
    client_id: str = "loginsight"


class PostgresSettings(BaseModel):
    dsn: SecretStr = SecretStr("postgresql://loginsight:loginsight@127.0.0.1:5432/loginsight")


class SensorSettings(BaseModel):
    """How the `logs.to.analyze` sensor closes a batch."""

    max_batch_records: int = 5_000
    max_batch_age_s: float = 10.0


class Settings(BaseSettings):
    """Log Insight settings. The defaults run everything embedded in `data_dir`."""

    model_config = SettingsConfigDict(
        env_prefix="LOGINSIGHT_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = DEFAULT_DATA_DIR
    bus: Literal["sqlite", "kafka"] = "sqlite"
    store: Literal["sqlite", "postgres"] = "sqlite"
    analyzer: Literal["local", "openai"] = "local"
    dagster_port: int = 3000

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    sensor: SensorSettings = Field(default_factory=SensorSettings)

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> Settings:
        # Dagster runs step processes from other working directories; pin the path once.
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @cached_property
    def stats_db_path(self) -> Path:
        return self.data_dir / "stats.duckdb"

    @cached_property
    def bus_db_path(self) -> Path:
        return self.data_dir / "bus.sqlite"

    @cached_property
    def store_db_path(self) -> Path:
        return self.data_dir / "insights.sqlite"

    @cached_property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"


def load_settings() -> Settings:
    """Settings from the environment (and `.env`), with the data folder created."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
