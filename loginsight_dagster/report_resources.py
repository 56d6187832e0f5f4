"""Resources of the reporting side: the gateway's stats API, the report settings, and the
Dagster-side DuckDB warehouse.

Dagster never opens the gateway's `stats.duckdb` (DuckDB allows one writing process, and the
gateway is it): hot stats come over HTTP, and Dagster's own tables live in `warehouse.duckdb`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from loginsight.client import fetch_series, fetch_stats
from loginsight.redact import Redactor
from loginsight.settings import ReportSettings, Settings

# One process writes the warehouse at a time: every asset that writes it runs in this pool,
# whose limit is 1 (`concurrency: pools: default_limit: 1` in dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"
_REPORT_DEFAULTS = ReportSettings()


class GatewayStatsResource(dg.ConfigurableResource):
    """The gateway's query API: `GET /v1/stats` and `GET /v1/stats/series`."""

    base_url: str = Field(default="http://127.0.0.1:8080")
    timeout_s: float = Field(default=10.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayStatsResource:
        return cls(base_url=settings.gateway.base_url)

    def stats(self, window: str, by: str = "service") -> dict[str, Any]:
        """Totals per value of `by` over `window` (raises `GatewayError` when unreachable)."""
        return fetch_stats(self.base_url, window, by, self.timeout_s)

    def series(self, window: str, buckets: int, by: str = "service") -> dict[str, Any]:
        return fetch_series(self.base_url, window, by, buckets, self.timeout_s)


class ReportResource(dg.ConfigurableResource):
    """Where reports go and what they count (from `Settings.reports`)."""

    reports_dir: str = Field(default=".loginsight/reports")
    timezone: str = Field(default=_REPORT_DEFAULTS.timezone)
    hour: int = Field(default=_REPORT_DEFAULTS.hour)
    top_incidents: int = Field(default=_REPORT_DEFAULTS.top_incidents)
    resolved_after_minutes: int = Field(default=_REPORT_DEFAULTS.resolved_after_minutes)
    max_insights: int = Field(default=_REPORT_DEFAULTS.max_insights)
    redact_patterns: list[str] = Field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportResource:
        reports = settings.reports
        return cls(
            reports_dir=str(settings.reports_dir),
            timezone=reports.timezone,
            hour=reports.hour,
            top_incidents=reports.top_incidents,
            resolved_after_minutes=reports.resolved_after_minutes,
            max_insights=reports.max_insights,
            redact_patterns=list(settings.redaction.extra_patterns),
        )

    @property
    def directory(self) -> Path:
        return Path(self.reports_dir)

    @property
    def resolved_after(self) -> timedelta:
        return timedelta(minutes=self.resolved_after_minutes)

    def redactor(self) -> Redactor:
        return Redactor(self.redact_patterns)


def warehouse_from_settings(settings: Settings) -> DuckDBResource:
    """dagster-duckdb's resource on `<data_dir>/warehouse.duckdb`."""
    # Small writes: one thread leaves the second core to the gateway and the sensors.
    return DuckDBResource(
        database=str(settings.warehouse_db_path), connection_config={"threads": 1}
    )
