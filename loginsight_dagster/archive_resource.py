"""The gateway's record archive, read by backfills (`loginsight.archive` holds the layout)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from loginsight.archive import read_matched_hour
from loginsight.model import LogRecord
from loginsight.settings import Settings
from loginsight_dagster.partitions import EVENT_HOURS


class ArchiveResource(dg.ConfigurableResource):
    """The folder of closed Parquet files the gateway archives every record to, by event hour."""

    root: str = Field(default=".loginsight/archive")

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveResource:
        return cls(root=str(settings.archive_dir))

    def matched_records(self, hour: str) -> list[LogRecord]:
        """The records of event hour `hour` (a partition key) that matched a filter rule."""
        window = EVENT_HOURS.time_window_for_partition_key(hour)
        return read_matched_hour(Path(self.root), window.start)
