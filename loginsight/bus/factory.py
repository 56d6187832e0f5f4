"""Choose the bus adapter from settings."""

from __future__ import annotations

from loginsight.bus.base import Bus
from loginsight.settings import Settings


def build_bus(settings: Settings, publish_timeout_s: float | None = None) -> Bus:
    """The configured bus; `publish_timeout_s` bounds how long a publish waits for confirmation
    (the gateway's is short: past it, matches go to its spool), else the adapter's default."""
    if settings.bus == "kafka":
        from loginsight.bus.kafka import DELIVERY_TIMEOUT_S, KafkaBus  # librdkafka only here

        return KafkaBus(
            settings.kafka.bootstrap_servers,
            settings.kafka.partitions,
            settings.kafka.client_id,
            delivery_timeout_s=publish_timeout_s or DELIVERY_TIMEOUT_S,
        )
    from loginsight.bus.sqlite import BUSY_TIMEOUT_S, SQLiteBus

    return SQLiteBus(settings.bus_db_path, busy_timeout_s=publish_timeout_s or BUSY_TIMEOUT_S)
