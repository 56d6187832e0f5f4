"""The hourly partitions of the analysis assets: one partition per event hour (UTC).

Partition keys are the archive's hour names (`2026-03-02T10`), so a partition, the archive folder
`hour=2026-03-02T10` it is backfilled from, and the `#hour=2026-03-02T10` that ends its insights'
batch keys all spell the hour the same way. The current hour is a partition too (`end_offset=1`),
because the logs sensor analyzes events as they arrive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from loginsight.archive import HOUR_FORMAT
from loginsight.batch_keys import hour_key
from loginsight.settings import Settings


def event_hour_partitions(start: date) -> dg.HourlyPartitionsDefinition:
    """Hourly partitions from midnight UTC of `start` up to and including the current hour."""
    return dg.HourlyPartitionsDefinition(
        start_date=datetime(start.year, start.month, start.day, tzinfo=UTC),
        timezone="UTC",
        fmt=HOUR_FORMAT,
        end_offset=1,
    )


# Assets are defined at import, so their partitions read the start from the environment's settings.
EVENT_HOURS = event_hour_partitions(Settings().dagster.partitions_start)


def partition_of_hour(hour: str, partitions: dg.HourlyPartitionsDefinition, now: datetime) -> str:
    """The partition that analyzes the events of event hour `hour`: its own, or, for events
    stamped before the first partition or after the current hour (skewed clocks), the nearest
    one, so that no event is left out."""
    first = partitions.start.strftime(HOUR_FORMAT)
    last = hour_key(now)  # the current hour (`end_offset=1`)
    if last < first:
        raise ValueError(f"no partition exists yet at {now.isoformat()}: the first is {first}")
    # Hour keys are fixed-width, so text order is time order.
    return min(max(hour, first), last)
