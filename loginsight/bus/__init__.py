"""The message bus: Kafka in production, an embedded SQLite log by default, one interface."""

from loginsight.bus.base import Bus, BusMessage, BusUnavailable, Offsets
from loginsight.bus.factory import build_bus

__all__ = ["Bus", "BusMessage", "BusUnavailable", "Offsets", "build_bus"]
