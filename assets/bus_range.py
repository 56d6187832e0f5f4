"""The run config of a sensor-requested run: which slice of a topic it consumes."""

import dagster as dg
from pydantic import Field

from loginsight.bus import Offsets


class BusRange(dg.Config):
    """Offsets `start[p] <= offset < end[p]` of `topic` per partition (keys are partition
    numbers as text), named by `batch_key`, the sensor's run key."""

    topic: str
    start: dict[str, int] = Field(default_factory=dict)
    end: dict[str, int] = Field(default_factory=dict)
    batch_key: str

    @staticmethod
    def offsets(raw: dict[str, int]) -> Offsets:
        return {int(partition): offset for partition, offset in raw.items()}

    def describe(self) -> str:
        spans = [f"p{p}:{self.start.get(p, 0)}-{end}" for p, end in sorted(self.end.items())]
        return f"{self.topic} " + ", ".join(spans)
