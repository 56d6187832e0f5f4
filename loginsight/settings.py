"""All settings in one typed place, read from `LOGINSIGHT_*` environment variables or a `.env` file.

Nested groups use a double underscore: `LOGINSIGHT_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
Every default is the embedded mode: DuckDB stats, SQLite bus and store, local analyzer.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import date
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


class DatadogSourceSettings(BaseModel):
    """Datadog logs intake (`POST /api/v2/logs`) and monitor webhooks (`POST /v1/webhooks/datadog`).
    Limits default to Datadog's own, so a shipper that Datadog accepts is accepted here."""

    enabled: bool = True
    max_payload_bytes: int = 5_000_000  # uncompressed request body
    max_log_bytes: int = 1_000_000  # a longer message is truncated and marked, as Datadog does
    max_entries: int = 1_000  # logs per request


class FirehoseSourceSettings(BaseModel):
    """Amazon Data Firehose HTTP endpoint delivery (`POST /v1/firehose`, CloudWatch Logs)."""

    enabled: bool = True
    # Recently delivered X-Amz-Firehose-Request-Id values kept (on disk) to drop retries.
    remembered_request_ids: int = Field(default=100_000, ge=1)


class LokiSourceSettings(BaseModel):
    """Grafana Loki push (`POST /loki/api/v1/push`, JSON or snappy protobuf)."""

    enabled: bool = True
    max_labels_bytes: int = 16 * 1024  # one stream's label set


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
    # Every listener can be turned off; a disabled HTTP route answers 404, a gRPC service
    # UNIMPLEMENTED.
    native_http_enabled: bool = True  # POST /v1/ingest
    native_grpc_enabled: bool = True  # loginsight.v1.LogIngest
    # The native HTTP path parses, normalizes, filters and counts a request as Arrow columns;
    # false runs the per-record path of before (the baseline `bench.ingest_http --baseline`).
    columnar_ingest: bool = True
    datadog: DatadogSourceSettings = Field(default_factory=DatadogSourceSettings)
    firehose: FirehoseSourceSettings = Field(default_factory=FirehoseSourceSettings)
    loki: LokiSourceSettings = Field(default_factory=LokiSourceSettings)

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


class ArchiveSettings(BaseModel):
    """The gateway's archive of every record (Parquet by event hour, for backfills)."""

    enabled: bool = True
    roll_after_s: float = 60.0  # a segment becomes a readable Parquet file at most this late
    roll_bytes: int = 64 * 1024 * 1024


class StatsSettings(BaseModel):
    """The gateway's hot stats (DuckDB): per-minute rows for a while, then hourly rows."""

    minute_retention_h: float = Field(default=48.0, gt=0)  # then folded into hourly rows
    hour_retention_days: float = Field(default=400.0, gt=0)  # then dropped
    compact_interval_s: float = Field(default=10.0, gt=0)  # how often rows are folded


class SpoolSettings(BaseModel):
    """What "acknowledged" means when the bus cannot confirm in time: the matches are fsynced to
    the gateway's local spool (`<data_dir>/spool.sqlite`) and drained to the bus in order once it
    is back. Past a bound, the gateway pushes back (HTTP 503 or 429 with Retry-After, gRPC
    RESOURCE_EXHAUSTED) instead of buffering without limit."""

    enabled: bool = True  # off: a bus that cannot confirm is answered 503 / UNAVAILABLE
    publish_timeout_s: float = Field(default=5.0, gt=0)  # a request waits this long for the bus
    max_records: int = Field(default=1_000_000, ge=1)  # spooled records; beyond, 503
    max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)  # spooled bytes; beyond, 503
    # Records held in memory by ingest calls in progress; beyond, 429 (one call always passes).
    max_in_flight_records: int = Field(default=200_000, ge=1)
    drain_batch_records: int = Field(default=5_000, ge=1)  # per bus publish while draining
    retry_after_s: int = Field(default=5, ge=1)  # the Retry-After of a 429 or 503


class SensorSettings(BaseModel):
    """How the `logs.to.analyze` sensor closes a batch."""

    max_batch_records: int = 5_000
    max_batch_age_s: float = 10.0


class OtlpSettings(BaseModel):
    """OpenTelemetry logs (source `otlp`): `LogsService/Export` on the gateway's gRPC port and
    OTLP/HTTP `POST /v1/logs` on its own port. Size limits are the gateway's."""

    enabled: bool = True  # both listeners
    grpc_enabled: bool = True
    http_enabled: bool = True
    http_port: int = 4318
    # In-flight OTLP/HTTP exports beyond this are answered 429 with Retry-After (backpressure).
    max_concurrent_exports: int = Field(default=64, ge=1)
    retry_after_s: int = Field(default=5, ge=1)  # the Retry-After of a 429 or 503

    @property
    def serves_grpc(self) -> bool:
        return self.enabled and self.grpc_enabled

    @property
    def serves_http(self) -> bool:
        return self.enabled and self.http_enabled


class OpenAISettings(BaseModel):
    """The OpenAI analyst (`analyzer: openai`): any OpenAI-compatible endpoint (OpenAI, Azure
    OpenAI, vLLM, Ollama, llama.cpp) and what it may spend. Tokens count input plus output."""

    api_key: SecretStr | None = None  # unset: $OPENAI_API_KEY; a local server needs none
    base_url: str | None = None  # unset: api.openai.com
    model: str = "gpt-4o-mini"
    timeout_s: float = 30.0
    max_retries: int = Field(default=2, ge=0)  # the client's retries with backoff (429, 5xx)
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    max_output_tokens: int = Field(default=800, ge=64)  # per call
    max_input_tokens: int = Field(default=3_000, ge=500)  # per call; the prompt is cut to fit
    run_token_budget: int = Field(default=50_000, ge=0)  # per Dagster run
    day_token_budget: int = Field(default=1_000_000, ge=0)  # per UTC day, all runs
    price_in_per_1k: float = Field(default=0.00015, ge=0)  # USD per 1k input tokens
    price_out_per_1k: float = Field(default=0.0006, ge=0)  # USD per 1k output tokens
    cache_path: Path | None = None  # unset: <data_dir>/llm_cache.sqlite


class RedactionSettings(BaseModel):
    """Extra regular expressions redacted (besides the built-in secrets, emails and cards) from
    everything that leaves the process, e.g. `["EMP-[0-9]{6}"]`."""

    extra_patterns: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _patterns_compile(self) -> RedactionSettings:
        for pattern in self.extra_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redaction pattern {pattern!r} is invalid: {exc}") from exc
        return self


class SyslogSettings(BaseModel):
    """Syslog (source `syslog`): RFC 5424 and RFC 3164 over UDP and TCP (RFC 6587 octet counting
    or newline framing) on one port."""

    enabled: bool = True
    tcp_enabled: bool = True
    udp_enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 5514  # TCP and UDP
    max_message_bytes: int = Field(default=64 * 1024, ge=256)  # longer ones are truncated, marked
    idle_timeout_s: float = Field(default=300.0, gt=0)  # a silent TCP connection is closed
    max_connections: int = Field(default=1_000, ge=1)  # TCP; more are closed at once, counted
    batch_max_records: int = Field(default=1_000, ge=1)  # records per pipeline call
    batch_max_wait_s: float = Field(default=0.02, ge=0)  # how long a batch waits for more
    udp_buffer_records: int = Field(default=50_000, ge=1)  # beyond, datagrams are dropped
    # Syslog carries no credentials: listening beyond loopback must be asked for explicitly.
    allow_unauthenticated_remote: bool = False

    @model_validator(mode="after")
    def _loopback_unless_asked(self) -> SyslogSettings:
        if self.enabled and not _is_loopback(self.host) and not self.allow_unauthenticated_remote:
            raise ValueError(
                f"syslog.host={self.host!r} listens beyond loopback, and syslog has no "
                "authentication: set syslog.allow_unauthenticated_remote=true to accept that"
            )
        return self


# A line that does NOT match starts no record: it continues the one before (indented stack
# frames, "Caused by:", "... 12 more", Python's "Traceback ..." and its final "ValueError: ...").
DEFAULT_MULTILINE_START = (
    r"^(?!$|\s|Traceback \(most recent call last\)|Caused by:|\.\.\. \d+ (?:more|common)"
    r"|[\w.$]+(?:Error|Exception)\b|During handling of the above|The above exception)"
)


class FileTailSettings(BaseModel):
    """File tail (source `file`): files matching glob patterns, followed across rotation."""

    enabled: bool = True  # with no paths, nothing is tailed
    paths: list[str] = Field(default_factory=list)  # glob patterns: "/var/log/app/*.log"
    # Glob (matched against the full path) -> service name, first match wins; else the file
    # name up to its first dot ("api" for api.log and api.log.1).
    services: dict[str, str] = Field(default_factory=dict)
    multiline_start: str = DEFAULT_MULTILINE_START  # regex a record's first line matches
    multiline_max_lines: int = Field(default=500, ge=1)
    multiline_flush_s: float = Field(default=1.0, ge=0)  # a quiet file's last record is complete
    rotate_wait_s: float = Field(default=5.0, ge=0)  # a renamed file is read until this quiet
    max_record_bytes: int = Field(default=256 * 1024, ge=256)  # longer ones truncated, marked
    poll_interval_s: float = Field(default=0.5, gt=0)
    read_chunk_bytes: int = Field(default=1024 * 1024, ge=4096)  # per file per poll
    read_from_head: bool = True  # files found at start without a saved offset: from the start
    offsets_file: Path | None = None  # unset: <data_dir>/file_tail_offsets.json

    @model_validator(mode="after")
    def _pattern_compiles(self) -> FileTailSettings:
        try:
            re.compile(self.multiline_start)
        except re.error as exc:
            raise ValueError(f"file_tail.multiline_start is invalid: {exc}") from exc
        return self


class UiSettings(BaseModel):
    """The web dashboard the gateway serves under `/ui` (read-only: stats and insights)."""

    enabled: bool = True
    # Where links to the Dagster asset and runs point; unset: http://127.0.0.1:{dagster_port}.
    dagster_url: str | None = None
    refresh_s: float = Field(default=5.0, ge=1.0)  # how often an open page polls for new data


class ReportSettings(BaseModel):
    """The scheduled insight reports (`insight_report_daily`, `insight_report_weekly`) and the
    asset checks' bounds. Reports run at `hour` o'clock in `timezone`; the weekly one on Monday."""

    timezone: str = "UTC"  # an IANA name: "Europe/Paris"
    hour: int = Field(default=6, ge=0, le=23)
    top_incidents: int = Field(default=10, ge=1)
    # An incident still seen within this long before the period's end is open, else resolved.
    resolved_after_minutes: int = Field(default=60, ge=1)
    max_insights: int = Field(default=1_000, ge=1)  # insights read from the store per report
    # The `sensor_lag_within_bound` check fails when topic logs.to.analyze holds more records
    # than this past the logs sensor's cursor.
    max_sensor_lag_records: int = Field(default=50_000, ge=0)

    @model_validator(mode="after")
    def _known_timezone(self) -> ReportSettings:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"reports.timezone {self.timezone!r} is not a known zone") from exc
        return self


class DagsterSettings(BaseModel):
    """The Dagster code location. `partitions_start` is the first hour (UTC) of the hourly
    partitions of `error_events` ... `rca_insights`: older hours cannot be backfilled, and events
    older than it are analyzed in its first partition."""

    partitions_start: date = date(2026, 1, 1)


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
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    otlp: OtlpSettings = Field(default_factory=OtlpSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    syslog: SyslogSettings = Field(default_factory=SyslogSettings)
    file_tail: FileTailSettings = Field(default_factory=FileTailSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    dagster: DagsterSettings = Field(default_factory=DagsterSettings)

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> Settings:
        # Dagster runs step processes from other working directories; pin the path once.
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @cached_property
    def stats_db_path(self) -> Path:
        return self.data_dir / "stats.duckdb"

    @cached_property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @cached_property
    def bus_db_path(self) -> Path:
        return self.data_dir / "bus.sqlite"

    @cached_property
    def spool_db_path(self) -> Path:
        return self.data_dir / "spool.sqlite"

    @cached_property
    def store_db_path(self) -> Path:
        return self.data_dir / "insights.sqlite"

    @cached_property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @cached_property
    def reports_dir(self) -> Path:
        """Where the insight reports are written (`latest.md`, `latest.html` and one pair per
        report and period)."""
        return self.data_dir / "reports"

    @cached_property
    def warehouse_db_path(self) -> Path:
        """Dagster's own DuckDB warehouse (never the gateway's stats.duckdb)."""
        return self.data_dir / "warehouse.duckdb"

    @cached_property
    def llm_cache_path(self) -> Path:
        return self.openai.cache_path or self.data_dir / "llm_cache.sqlite"

    @property
    def dagster_url(self) -> str:
        """The Dagster webserver's base URL, for links from the dashboard."""
        return (self.ui.dagster_url or f"http://127.0.0.1:{self.dagster_port}").rstrip("/")

    @cached_property
    def file_tail_offsets_path(self) -> Path:
        return self.file_tail.offsets_file or self.data_dir / "file_tail_offsets.json"


def load_settings() -> Settings:
    """Settings from the environment (and `.env`), with the data folder created."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
