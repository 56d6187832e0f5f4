"""All settings in one typed place, read from `LOGINSIGHT_*` environment variables or a `.env` file.

Nested groups use a double underscore: `LOGINSIGHT_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
Every default is the embedded mode: DuckDB stats, SQLite bus and store, local analyzer.
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

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
    # API keys per source name ("http", "sdk", "otlp", "datadog", "firehose", "loki") or "*"
    # for every source. With none, only loopback binds are allowed and any key is accepted.
    api_keys: dict[str, list[SecretStr]] = Field(default_factory=dict)
    # TLS for the HTTP and gRPC listeners: PEM certificate (chain) and private key.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _secure_by_default(self) -> GatewaySettings:
        if not self.api_keys and not _is_loopback(self.host):
            raise ValueError(
                f"gateway.host={self.host!r} listens beyond loopback: configure "
                'gateway.api_keys first (LOGINSIGHT_GATEWAY__API_KEYS=\'{"*": ["<key>"]}\')'
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("gateway TLS needs both tls_cert_file and tls_key_file")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.http_port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


CONFIG_FILE_ENV = "LOGINSIGHT_CONFIG"
DEFAULT_CONFIG_FILE = Path("loginsight.yaml")


class Settings(BaseSettings):
    """Log Insight settings. The defaults run everything embedded in `data_dir`.

    Sources, highest first: arguments, `LOGINSIGHT_*` environment variables, `.env`, the YAML
    config file (`$LOGINSIGHT_CONFIG`, else `./loginsight.yaml` when present), defaults.
    """

    model_config = SettingsConfigDict(
        env_prefix="LOGINSIGHT_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)
        yaml = YamlConfigSettingsSource(settings_cls, yaml_file=config_file)
        return init_settings, env_settings, dotenv_settings, yaml, file_secret_settings

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
