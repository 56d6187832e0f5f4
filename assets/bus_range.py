"""The run config of a sensor-requested run: which slice of a topic it consumes."""

import dagster as dg
from pydantic import Field

from loginsight.bus import Offsets


class BusRange(dg.Config):
    """Offsets `start[p] <= offset < end[p]` of `topic` per partition (keys are partition
    numbers as text), named by `batch_key`, the sensor's run key. For the hourly partitioned
    analysis, `hours` are the event hours of the range this run analyzes (usually just its
    partition's). Without a topic (a backfill from the UI or the CLI), there is no range:
    `error_events` reads its partition's hour from the archive."""

    topic: str = Field(default="", description="empty: read the partition's hour from the archive")
    start: dict[str, int] = Field(default_factory=dict)
    end: dict[str, int] = Field(default_factory=dict)
    batch_key: str = ""
    hours: list[str] = Field(
        default_factory=list, description="event hours kept; empty: the partition's hour"
    )

    @property
    def from_bus(self) -> bool:
        return bool(self.topic)

    @staticmethod
    def offsets(raw: dict[str, int]) -> Offsets:
        return {int(partition): offset for partition, offset in raw.items()}

    def describe(self) -> str:
        spans = [f"p{p}:{self.start.get(p, 0)}-{end}" for p, end in sorted(self.end.items())]
        return f"{self.topic} " + ", ".join(spans)
