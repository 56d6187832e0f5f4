"""`error_events`: the filtered records of one batch of `logs.to.analyze`."""

from collections import Counter

import dagster as dg
from pydantic import BaseModel

from assets.bus_range import BusRange
from loginsight.model import LogRecord
from loginsight_dagster.resources import BusResource

BUS_RETRY = dg.RetryPolicy(max_retries=5, delay=2, backoff=dg.Backoff.EXPONENTIAL)


class ErrorEventBatch(BaseModel):
    batch_key: str
    records: list[LogRecord]
    unreadable: int = 0


@dg.asset(
    group_name="rca",
    kinds={"kafka", "python"},
    owners=["team:loginsight"],
    retry_policy=BUS_RETRY,
    description="Error records matched by the gateway's filter rules, read from topic "
    "logs.to.analyze for the offset range the sensor assigned to this run.",
)
def error_events(
    context: dg.AssetExecutionContext, config: BusRange, bus: BusResource
) -> dg.Output[ErrorEventBatch]:
    with bus.open() as opened:
        messages = opened.read(
            config.topic, BusRange.offsets(config.start), BusRange.offsets(config.end)
        )
    records: list[LogRecord] = []
    unreadable = 0
    for message in messages:
        try:
            records.append(LogRecord.from_bus(message.value))
        except ValueError as exc:  # permanent: a payload no version of us can read
            unreadable += 1
            context.log.warning(f"skipping unreadable message at {message.offset}: {exc}")
    services = Counter(record.service for record in records)
    return dg.Output(
        ErrorEventBatch(batch_key=config.batch_key, records=records, unreadable=unreadable),
        metadata={
            "events": len(records),
            "unreadable": unreadable,
            "offset_range": config.describe(),
            "services": dg.MetadataValue.json(dict(services.most_common(20))),
        },
    )
