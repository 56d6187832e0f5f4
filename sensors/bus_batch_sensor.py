"""A sensor factory: read a bus topic from a cursor of offsets and request one run per batch.

The run key is the batch's offset range, so a replayed tick, a restarted daemon or a second
daemon asks for the same key again and Dagster launches it once. The cursor moves past a
batch only in the same tick result that requests its run.
"""

import json
import time
from dataclasses import dataclass

import dagster as dg
from pydantic import BaseModel, Field

from loginsight.bus import Offsets
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
) -> dg.SensorDefinition:
    """A sensor that turns batches of `topic` into runs of job `job_name`, passing the offset
    range as the run config of asset `config_op` (a `BusRange`)."""

    @dg.sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, bus: BusResource) -> dg.SensorResult:
        cursor = BatchCursor.parse(context.cursor)
        with bus.open() as opened:
            end = opened.end_offsets(topic)
        plan = plan_batch(cursor, end, policy, time.time())
        if plan.end is None:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"{plan.reason}; lag {plan.lag}"),
                cursor=plan.cursor.dump(),
            )
        run_key = run_key_of(topic, plan.start, plan.end)
        already = context.instance.get_runs(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1
        )
        if already:  # a replayed tick whose run exists: move on, ask for nothing
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"run for {run_key} exists"), cursor=plan.cursor.dump()
            )
        batch = {
            "topic": topic,
            "start": {str(p): o for p, o in plan.start.items()},
            "end": {str(p): o for p, o in plan.end.items()},
            "batch_key": run_key,
        }
        request = dg.RunRequest(
            run_key=run_key,
            run_config={"ops": {config_op: {"config": batch}}},
            tags={
                "loginsight/topic": topic,
                "loginsight/lag": str(plan.lag),
                "loginsight/batch": json.dumps(batch["end"]),
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=plan.cursor.dump())

    return _sensor
