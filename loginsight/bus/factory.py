"""Choose the bus adapter from settings."""

from __future__ import annotations

from loginsight.bus.base import Bus
from loginsight.settings import Settings


def build_bus(settings: Settings) -> Bus:
    if settings.bus == "kafka":
        from loginsight.bus.kafka import KafkaBus  # librdkafka only where it is used

        return KafkaBus(
            settings.kafka.bootstrap_servers, settings.kafka.partitions, settings.kafka.client_id
        )
    from loginsight.bus.sqlite import SQLiteBus

    return SQLiteBus(settings.bus_db_path)
