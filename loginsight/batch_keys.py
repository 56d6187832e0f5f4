"""The names of analyzed batches, as stored with each insight (`Insight.batch_key`).

Every analysis covers one event hour, and its batch key ends with that hour:

    logs.to.analyze@p0:120-480#hour=2026-03-02T10        a sensor-driven run (its run key)
    archive@<run id>#hour=2026-03-02T10                  a backfill of the hour from the archive

A backfill re-reads the whole hour from the archive, so its insights replace every earlier
contribution of that hour (`InsightStore.replace_hour`). The run id is part of its key so that a
later backfill of the same hour replaces an earlier one, while the insights of one backfill,
even when stored in several steps, never replace each other.
"""

from __future__ import annotations

import re
from datetime import datetime

from loginsight.archive import HOUR_FORMAT, hour_of

HOUR_SEPARATOR = "#hour="
ARCHIVE_PREFIX = "archive@"
_HOUR_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")
_ARCHIVE_KEY = re.compile(rf"{ARCHIVE_PREFIX}[^#]+{HOUR_SEPARATOR}({_HOUR_KEY.pattern})")


def hour_key(moment: datetime) -> str:
    """The event hour of a moment, as archive folders and hourly partitions name it."""
    return hour_of(moment).strftime(HOUR_FORMAT)


def check_hour_key(key: str) -> str:
    """`key` if it names an hour (`2026-03-02T10`), else ValueError."""
    if not _HOUR_KEY.fullmatch(key):
        raise ValueError(f"not an hour key (YYYY-MM-DDTHH): {key!r}")
    return key


def sensor_batch_key(run_key: str, hour: str) -> str:
    """The key of a sensor-driven run for the events of `hour` in an offset range."""
    return f"{run_key}{HOUR_SEPARATOR}{check_hour_key(hour)}"


def archive_batch_key(run_id: str, hour: str) -> str:
    """The key of a backfill run that re-analyzed `hour` from the archive."""
    return f"{ARCHIVE_PREFIX}{run_id}{HOUR_SEPARATOR}{check_hour_key(hour)}"


def replaced_hour(batch_key: str) -> str | None:
    """The hour a backfill batch replaces, or None for a sensor-driven batch."""
    match = _ARCHIVE_KEY.fullmatch(batch_key)
    return match.group(1) if match else None


def hour_suffix(hour: str) -> str:
    """What every batch key of `hour` ends with."""
    return f"{HOUR_SEPARATOR}{check_hour_key(hour)}"
