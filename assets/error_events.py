"""`error_events`: the filtered records of one event hour, from a batch of `logs.to.analyze` (a
sensor-driven run) or from the gateway's archive (a backfill)."""

from collections import Counter

import dagster as dg
import pyarrow as pa
from pydantic import BaseModel

from assets.bus_range import BusRange
from loginsight.batch_keys import archive_batch_key, hour_key
from loginsight.model import LogRecord
from loginsight_dagster.archive_resource import ArchiveResource
from loginsight_dagster.partitions import EVENT_HOURS
from loginsight_dagster.resources import BusResource

BUS_RETRY = dg.RetryPolicy(max_retries=5, delay=2, backoff=dg.Backoff.EXPONENTIAL)


class ErrorEventBatch(BaseModel):
    batch_key: str
    records: list[LogRecord]
    unreadable: int = 0


def read_bus_range(
    context: dg.AssetExecutionContext, config: BusRange, bus: BusResource
) -> tuple[list[LogRecord], int]:
    """The readable records of the configured offset range, and how many were unreadable.

    Delivery is at least once: a record the gateway re-sent from its spool can appear twice
    with the same id, and is kept once."""
    with bus.open() as opened:
        messages = opened.read(
            config.topic, BusRange.offsets(config.start), BusRange.offsets(config.end)
        )
    records: list[LogRecord] = []
    seen: set[str] = set()
    unreadable = 0
    for message in messages:
        try:
            record = LogRecord.from_bus(message.value)
        except ValueError as exc:  # permanent: a payload no version of us can read
            unreadable += 1
            context.log.warning(f"skipping unreadable message at {message.offset}: {exc}")
            continue
        if record.id not in seen:
            seen.add(record.id)
            records.append(record)
    return records, unreadable


@dg.asset(
    group_name="rca",
    kinds={"kafka", "parquet", "python"},
    owners=["team:loginsight"],
    partitions_def=EVENT_HOURS,
    retry_policy=BUS_RETRY,
    description="Error records matched by the gateway's filter rules, for one event hour: read "
    "from topic logs.to.analyze for the offset range the sensor assigned to this run, or, in a "
    "backfill, every matched record of the hour from the gateway's Parquet archive.",
)
def error_events(
    context: dg.AssetExecutionContext,
    config: BusRange,
    bus: BusResource,
    archive: ArchiveResource,
) -> dg.Output[ErrorEventBatch]:
    hour = context.partition_key
    unreadable = 0
    if config.from_bus:
        in_range, unreadable = read_bus_range(context, config, bus)
        hours = set(config.hours or [hour])
        records = [record for record in in_range if hour_key(record.event_time) in hours]
        batch_key, source = config.batch_key, config.describe()
    else:
        try:
            records = archive.matched_records(hour)
        except pa.ArrowInvalid as exc:  # a damaged file stays damaged: retrying cannot help
            raise dg.Failure(
                f"archive hour={hour} is unreadable: {exc}", allow_retries=False
            ) from exc
        batch_key, source = archive_batch_key(context.run_id, hour), f"archive hour={hour}"
    services = Counter(record.service for record in records)
    return dg.Output(
        ErrorEventBatch(batch_key=batch_key, records=records, unreadable=unreadable),
        metadata={
            "events": len(records),
            "unreadable": unreadable,
            "source": "bus" if config.from_bus else "archive",
            "offset_range": source,
            "batch_key": batch_key,
            "services": dg.MetadataValue.json(dict(services.most_common(20))),
        },
    )
