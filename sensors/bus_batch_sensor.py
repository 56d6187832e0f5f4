"""A sensor factory: read a bus topic from a cursor of offsets and request one run per batch.

The run key is the batch's offset range, so a replayed tick, a restarted daemon or a second
daemon asks for the same key again and Dagster launches it once. The cursor moves past a
batch only in the same tick result that requests its run.

For an hourly partitioned job, the sensor reads the batch (it is bounded) to find the event
hours of its records, and requests one run per hour: partition key `<hour>`, run key
`<offset range>#hour=<hour>`, the same offset range as run config plus the hours to keep. Before
asking, it drops the run keys that already have a run, so a tick that died halfway through
submitting asks only for the rest.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import BaseModel, Field

from loginsight.batch_keys import hour_key, sensor_batch_key
from loginsight.bus import BusMessage, Offsets
from loginsight.model import LogRecord
from loginsight_dagster.partitions import partition_of_hour
from loginsight_dagster.resources import BusResource

RUN_KEY_TAG = "dagster/run_key"


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch closes: at `max_records` pending messages, or once the oldest pending
    message has waited `max_age_s` seconds."""

    max_records: int = 5_000
    max_age_s: float = 30.0


class BatchCursor(BaseModel):
    """The sensor's position: next offset per partition, and since when messages are pending."""

    offsets: dict[str, int] = Field(default_factory=dict)
    pending_since: float | None = None

    @classmethod
    def parse(cls, raw: str | None) -> "BatchCursor":
        return cls.model_validate_json(raw) if raw else cls()

    def dump(self) -> str:
        return self.model_dump_json()

    def start(self, partitions: Offsets) -> Offsets:
        return {p: self.offsets.get(str(p), 0) for p in partitions}

    def lag(self, end: Offsets) -> int:
        start = self.start(end)
        return sum(max(0, end[p] - start[p]) for p in end)


@dataclass(frozen=True)
class BatchPlan:
    """What one tick decided: a batch to run (or none), the next cursor, and the lag seen."""

    start: Offsets
    end: Offsets | None
    cursor: BatchCursor
    lag: int
    reason: str


def plan_batch(cursor: BatchCursor, end: Offsets, policy: BatchPolicy, now: float) -> BatchPlan:
    """Decide whether the messages between the cursor and the topic's end make a batch."""
    start = cursor.start(end)
    lag = cursor.lag(end)
    if lag == 0:
        return BatchPlan(start, None, BatchCursor(offsets=cursor.offsets), 0, "no new messages")
    since = cursor.pending_since if cursor.pending_since is not None else now
    if lag < policy.max_records and now - since < policy.max_age_s:
        waiting = cursor.model_copy(update={"pending_since": since})
        return BatchPlan(
            start,
            None,
            waiting,
            lag,
            f"{lag} message(s) pending, batch closes at "
            f"{policy.max_records} or after {policy.max_age_s:.0f}s",
        )
    batch_end = _fair_batch_end(start, end, policy.max_records)
    remaining = sum(end[p] - batch_end[p] for p in end)
    offsets = {**cursor.offsets, **{str(p): o for p, o in batch_end.items()}}
    next_cursor = BatchCursor(offsets=offsets, pending_since=now if remaining else None)
    return BatchPlan(start, batch_end, next_cursor, lag, "batch closed")


def _fair_batch_end(start: Offsets, end: Offsets, max_records: int) -> Offsets:
    """Ends of a batch of at most `max_records` messages: every partition with pending messages
    gets an equal share first, so one busy partition cannot starve the others; what a share
    leaves unused goes to the partitions that still have more, in partition order."""
    pending = {p: max(0, end[p] - start[p]) for p in end}
    active = [p for p in sorted(pending) if pending[p]]
    share = max(1, max_records // max(1, len(active)))
    take = {p: min(pending[p], share) for p in active}
    budget = max_records - sum(take.values())
    for p in active:
        extra = max(0, min(pending[p] - take[p], budget))
        take[p] += extra
        budget -= extra
    return {p: start[p] + take.get(p, 0) for p in end}


def run_key_of(topic: str, start: Offsets, end: Offsets) -> str:
    spans = ",".join(f"p{p}:{start[p]}-{end[p]}" for p in sorted(end) if end[p] > start[p])
    return f"{topic}@{spans}"


def make_bus_batch_sensor(
    *,
    name: str,
    topic: str,
    job_name: str,
    config_op: str,
    policy: BatchPolicy,
    description: str,
    minimum_interval_seconds: int = 5,
    partitions_def: dg.HourlyPartitionsDefinition | None = None,
) -> dg.SensorDefinition:
    """A sensor that turns batches of `topic` into runs of job `job_name`, passing the offset
    range as the run config of asset `config_op` (a `BusRange`). With `partitions_def` (the
    job's hourly partitions), a batch becomes one run per event hour its records belong to."""

    @dg.sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, bus: BusResource) -> dg.SensorResult:
        cursor = BatchCursor.parse(context.cursor)
        now = time.time()
        with bus.open() as opened:
            plan = plan_batch(cursor, opened.end_offsets(topic), policy, now)
            if plan.end is None:
                return dg.SensorResult(
                    skip_reason=dg.SkipReason(f"{plan.reason}; lag {plan.lag}"),
                    cursor=plan.cursor.dump(),
                )
            batch = BatchRequests(topic, config_op, plan.start, plan.end, plan.lag)
            if partitions_def is None:
                requests = [batch.request()]
            else:
                messages = opened.read(topic, plan.start, plan.end)
                hours = partitions_of(messages, partitions_def, datetime.fromtimestamp(now, UTC))
                requests = [batch.request(partition, kept) for partition, kept in hours.items()]
        fresh = _not_yet_requested(context.instance, requests)
        if not fresh:  # a replayed tick whose runs exist (or nothing readable): move on
            why = f"run for {batch.run_key} exists" if requests else "no readable message"
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"{why}; lag {plan.lag}"), cursor=plan.cursor.dump()
            )
        return dg.SensorResult(run_requests=fresh, cursor=plan.cursor.dump())

    return _sensor


@dataclass(frozen=True)
class BatchRequests:
    """The run requests of one closed batch."""

    topic: str
    config_op: str
    start: Offsets
    end: Offsets
    lag: int

    @property
    def run_key(self) -> str:
        return run_key_of(self.topic, self.start, self.end)

    def request(self, partition: str | None = None, hours: Iterable[str] = ()) -> dg.RunRequest:
        """The run of the whole batch, or of the events of `hours` in it, analyzed in hourly
        partition `partition`, keyed `<offset range>#hour=<partition>`."""
        run_key = self.run_key if partition is None else sensor_batch_key(self.run_key, partition)
        batch: dict[str, Any] = {
            "topic": self.topic,
            "start": {str(p): o for p, o in self.start.items()},
            "end": {str(p): o for p, o in self.end.items()},
            "batch_key": run_key,
        }
        if partition is not None:
            batch["hours"] = sorted(hours)
        return dg.RunRequest(
            run_key=run_key,
            run_config={"ops": {self.config_op: {"config": batch}}},
            partition_key=partition,
            tags={
                "loginsight/topic": self.topic,
                "loginsight/lag": str(self.lag),
                "loginsight/batch": json.dumps(batch["end"]),
            },
        )


def partitions_of(
    messages: Iterable[BusMessage], partitions_def: dg.HourlyPartitionsDefinition, now: datetime
) -> dict[str, set[str]]:
    """The hourly partitions the records of a batch belong to, each with the event hours it
    analyzes (its own, plus out-of-range hours clamped into the first or current partition).
    Unreadable messages belong to no hour: `error_events` counts them in every run of the batch."""
    hours: set[str] = set()
    for message in messages:
        try:
            hours.add(hour_key(LogRecord.from_bus(message.value).event_time))
        except ValueError:
            continue
    by_partition: dict[str, set[str]] = {}
    for hour in sorted(hours):
        by_partition.setdefault(partition_of_hour(hour, partitions_def, now), set()).add(hour)
    return by_partition


def _not_yet_requested(
    instance: dg.DagsterInstance, requests: list[dg.RunRequest]
) -> list[dg.RunRequest]:
    """The requests no run exists for yet. A replayed tick, a restarted daemon or a second
    daemon evaluating the same cursor computes the same run keys, so each is launched once (the
    daemon, too, drops a request whose run key it has launched)."""
    keys = [request.run_key for request in requests if request.run_key]
    if not keys:
        return []
    existing = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: keys}))
    launched = {run.tags.get(RUN_KEY_TAG) for run in existing}
    return [request for request in requests if request.run_key not in launched]
